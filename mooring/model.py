"""The typed model of one host's declared state, built from merged, validated YAML layers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from checks.schema import normalize_merged
from mooring.declared import Merged, layers_for, merge
from mooring.errors import ConfigError, ConfigProblem
from mooring.paths import GROUP_DATA, ROOT, state_dir


@dataclass(frozen=True)
class Bootstrap:
    """How a bare Debian box becomes a docker host."""

    docker_source: str
    compose_v1: str
    timezone: str
    deploy_user: str
    authorized_keys: tuple[str, ...]
    base_dir: str
    backup_dir: str


@dataclass
class HostModel:
    """Everything mooring knows about one host before touching it."""

    name: str
    environment: str
    bootstrap: Bootstrap
    merged: Merged = field(repr=False)
    data: dict[str, Any] = field(repr=False, default_factory=dict)


def build_model(host_name: str, groups: Iterable[str], host_data: dict[str, Any] | None = None,
                group_data: Path = GROUP_DATA) -> HostModel:
    """Merge, validate and type one host's layers; raise ``ConfigError`` on any problem.

    >>> build_model("docker-1", ["sandbox", "docker_boxes"]).environment  # doctest: +SKIP
    'sandbox'
    """
    merged = merge(layers_for(host_name, groups, host_data, group_data))
    data = normalize_merged(merged.data, merged.file_of)
    environment = data.get("environment")
    if not environment:
        raise ConfigError(ConfigProblem(merged.file_of("environment"), "environment", "required key is missing",
                                        f"set `environment:` in the group file of {host_name}"))
    return HostModel(host_name, environment, _bootstrap(data.get("bootstrap") or _defaults("bootstrap"), merged),
                     merged, data)


def host_model(host) -> HostModel:
    """The model of a pyinfra ``host`` (uses the shims' layers from its host data)."""
    return build_model(host.name, host.groups, host.data.dict())


def _defaults(block: str) -> dict[str, Any]:
    from cerberus import Validator

    from checks.schema import merged_schema

    validator = Validator({block: merged_schema()[block]})
    validator.validate({block: {}})
    return validator.document[block]


def _bootstrap(data: dict[str, Any], merged: Merged) -> Bootstrap:
    keys = list(data["authorized_keys"])
    for index, name in enumerate(data["authorized_key_files"]):
        keys.extend(_read_key_file(name, f"bootstrap.authorized_key_files.{index}", merged))
    return Bootstrap(
        docker_source=data["docker_source"], compose_v1=data["compose_v1"], timezone=data["timezone"],
        deploy_user=data["deploy_user"], authorized_keys=tuple(dict.fromkeys(keys)),
        base_dir=data["base_dir"], backup_dir=data["backup_dir"],
    )


def _read_key_file(name: str, path: str, merged: Merged) -> list[str]:
    file = Path(name.replace("${MOORING_STATE}", str(state_dir())))
    file = file if file.is_absolute() else ROOT / file
    try:
        lines = [line.strip() for line in file.read_text().splitlines()]
    except OSError:
        raise ConfigError(ConfigProblem(merged.file_of(path), path, f"public key file {name!r} cannot be read",
                                        "create it (the sandbox's key appears after `mooring sandbox up`) or fix the path"))
    return [line for line in lines if line and not line.startswith("#")]
