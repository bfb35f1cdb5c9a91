"""cerberus schemas for every block of the declared state, and their error reporting.

Blocks register themselves in :data:`BLOCKS` (duplicates are refused). A layer file may set any
subset of keys (the others come from other layers); the merged data is then checked with the
required keys on. Unknown keys are errors everywhere: most are typos.
"""

from __future__ import annotations

import copy
from typing import Any

from cerberus import Validator
from cerberus.errors import ValidationError

from mooring.errors import ConfigError, ConfigProblem

BLOCKS: dict[str, dict[str, Any]] = {}

#: Keys whose values are never echoed back in messages.
SECRET_HINTS = ("password", "secret", "token", "key", "credential")

NAME_RE = r"^[a-z_][a-z0-9_-]{0,31}$"
ABS_PATH_RE = r"^/(?!.*(^|/)\.\.(/|$)).*$"


def register_block(name: str, schema: dict[str, Any]) -> None:
    """Register the schema of one top-level block; a second registration of a name is an error."""
    if name in BLOCKS:
        raise ValueError(f"schema block {name!r} is already registered")
    BLOCKS[name] = schema


register_block("environment", {
    "type": "string", "regex": NAME_RE,
    "meta": {"fix": "name the environment, e.g. production, staging or sandbox"},
})

register_block("bootstrap", {
    "type": "dict",
    "schema": {
        "docker_source": {"type": "string", "allowed": ["debian", "docker-apt"], "default": "debian"},
        "compose_v1": {"type": "string", "allowed": ["remove", "refuse"], "default": "remove"},
        "timezone": {"type": "string", "regex": r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$", "default": "UTC"},
        "deploy_user": {"type": "string", "regex": NAME_RE, "default": "deploy"},
        "authorized_keys": {
            "type": "list", "default": [],
            "schema": {"type": "string", "regex": r"^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp(256|384|521)|sk-\S+) [A-Za-z0-9+/=]+( .*)?$",
                       "meta": {"fix": "paste one public key line, e.g. `ssh-ed25519 AAAA... user@host`"}},
        },
        "authorized_key_files": {
            "type": "list", "default": [],
            "schema": {"type": "string", "empty": False,
                       "meta": {"fix": "a public key file path, relative to the project root or absolute"}},
        },
        "base_dir": {"type": "string", "regex": ABS_PATH_RE, "default": "/srv/mooring",
                     "meta": {"fix": "an absolute path without `..`, e.g. /srv/mooring"}},
        "backup_dir": {"type": "string", "regex": ABS_PATH_RE, "default": "/var/backups/mooring",
                       "meta": {"fix": "an absolute path without `..`, e.g. /var/backups/mooring"}},
    },
})


def _optional(schema: dict[str, Any]) -> dict[str, Any]:
    """The same schema with nothing required and no defaults (a layer sets only some keys)."""
    schema = copy.deepcopy(schema)
    _strip(schema)
    return schema


def _strip(rules: Any) -> None:
    if not isinstance(rules, dict):
        return
    rules.pop("required", None)
    rules.pop("default", None)
    for key in ("schema", "valuesrules", "keysrules"):
        sub = rules.get(key)
        if isinstance(sub, dict):
            if all(isinstance(v, dict) for v in sub.values()) and key == "schema" and rules.get("type") == "dict":
                for value in sub.values():
                    _strip(value)
            else:
                _strip(sub)


def layer_schema() -> dict[str, Any]:
    """Schema for one layer file: every block optional."""
    return {name: _optional(schema) for name, schema in BLOCKS.items()}


def merged_schema() -> dict[str, Any]:
    """Schema for a host's merged data: required keys and defaults on."""
    return copy.deepcopy(BLOCKS)


def validate_layer(data: dict[str, Any], file: str) -> None:
    """Check one layer file; raise ``ConfigError`` naming ``file`` and each dotted key path."""
    validator = Validator(layer_schema(), allow_unknown=False)
    if not validator.validate(data):
        raise ConfigError(problems_from(validator, data, lambda _path: file))


def normalize_merged(data: dict[str, Any], file_of) -> dict[str, Any]:
    """Validate a host's merged data and return it with defaults filled in.

    ``file_of(dotted_path)`` names the file a key came from.
    """
    validator = Validator(merged_schema(), allow_unknown=False)
    if not validator.validate(data):
        raise ConfigError(problems_from(validator, data, file_of))
    return validator.document


def problems_from(validator: Validator, document: dict[str, Any], file_of) -> list[ConfigProblem]:
    """Turn cerberus errors into problems: file, dotted path, message (value unless secret), fix."""
    problems = []
    for error in _leaf_errors(validator._errors):
        path = ".".join(str(p) for p in error.document_path)
        problems.append(ConfigProblem(file_of(path), path, _message(error, path), _fix(error, validator.root_schema.schema)))
    return sorted(problems, key=lambda p: (p.file, p.path))


def _leaf_errors(errors) -> list[ValidationError]:
    leaves = []
    for error in errors:
        if error.is_group_error and error.child_errors:
            leaves.extend(_leaf_errors(error.child_errors))
        else:
            leaves.append(error)
    return leaves


def is_secret_path(path: str) -> bool:
    """True when a key path looks like it holds a secret (its value is never shown)."""
    last = path.rsplit(".", 1)[-1].lower()
    return any(hint in last for hint in SECRET_HINTS)


def _shown(value: Any, path: str) -> str:
    if is_secret_path(path):
        return "(value hidden)"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _message(error: ValidationError, path: str) -> str:
    rule, constraint, value = error.rule, error.constraint, error.value
    if rule is None:
        return "unknown key"
    if rule == "required":
        return "required key is missing"
    if rule == "type":
        return f"must be of type {constraint}, got {type(value).__name__} {_shown(value, path)}"
    if rule == "allowed":
        return f"{_shown(value, path)} is not allowed"
    if rule == "regex":
        return f"{_shown(value, path)} has the wrong format"
    if rule in ("min", "max"):
        return f"{_shown(value, path)} must be {'at least' if rule == 'min' else 'at most'} {constraint}"
    if rule == "empty":
        return "must not be empty"
    if rule in ("minlength", "maxlength"):
        return f"length must be {'at least' if rule == 'minlength' else 'at most'} {constraint}"
    if rule == "check_with":
        return str(error.info[0]) if error.info else f"{_shown(value, path)} is invalid"
    return f"{_shown(value, path)} fails rule {rule}={constraint!r}"


def _fix(error: ValidationError, schema: dict[str, Any]) -> str:
    rule, constraint = error.rule, error.constraint
    meta_fix = _meta_fix(error, schema)
    if rule is None:
        return "remove it or correct its spelling"
    if rule == "required":
        return meta_fix or "add this key"
    if rule == "allowed":
        return "use one of: " + ", ".join(map(str, constraint))
    if rule == "type":
        return meta_fix or f"write a {constraint}"
    return meta_fix or "correct the value"


def _meta_fix(error: ValidationError, schema: dict[str, Any]) -> str:
    """The ``meta.fix`` text of the rule set the error came from, if the schema has one."""
    node: Any = schema
    for part in error.schema_path[:-1]:
        if not isinstance(node, dict) or part not in node:
            return ""
        node = node[part]
    return node.get("meta", {}).get("fix", "") if isinstance(node, dict) else ""
