"""The pre-flight: everything that can be checked without touching a host, for one host or a
whole inventory. ``mooring validate``, ``mooring deploy`` and ``deploy/stack.py`` (through
:func:`assert_host_ready`) all run it, so nothing invalid ever reaches a host.

Findings are data (:class:`mooring.checks.findings.Finding`); formatting and exit codes belong to the
commands.
"""

from __future__ import annotations

import fnmatch
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

from mooring.checks.findings import SEVERITY, Finding, Outcome, failed
from mooring.checks.registry import run_rules
from mooring.checks.rules.render import warm_tool_cache
from mooring.declare.layers import group_data_dir
from mooring.declare.errors import ConfigError, ConfigProblem, MooringError
from mooring.declare.model import HostModel, Stack, build_model, host_model
from mooring.declare.render import RenderedStack, render_stack
from mooring.declare.secrets import stand_ins_active

log = logging.getLogger(__name__)

#: Subject prefix of a finding that holds for every host of a group.
GROUP_SUBJECT = "group:"
DECLARED_CHECK = "declared"
INVENTORY_CHECK = "inventory"
HOST_KEYS_CHECK = "inventory.host_keys"
RENDER_CHECK = "render.templates"
_ORDER = {outcome: rank for rank, outcome in enumerate(SEVERITY)}


@dataclass(frozen=True)
class InventoryHost:
    """A host of an inventory file as the pre-flight needs it: its name, groups in order, and
    the connection data the inventory gives it (its own tuple data over its groups')."""

    name: str
    groups: tuple[str, ...]
    data: dict[str, Any] = field(default_factory=dict, compare=False)


def check_model(model: HostModel) -> list[Finding]:
    """Static rules and render checks for one host (PASSED/SKIPPED findings included).

    >>> [f for f in check_model(build_model("docker-1", ["sandbox"])) if f.outcome is Outcome.FAILED]  # doctest: +SKIP
    []
    """
    prepared = _prepare(model)
    _warm([prepared])
    return _finish(prepared)


@dataclass
class _Prepared:
    """One host between the two pre-flight phases: model built and rendered, rules not yet run."""

    model: HostModel
    findings: list[Finding]
    stack: Stack | None = None
    rendered: RenderedStack | None = None


def _prepare(model: HostModel) -> _Prepared:
    try:
        stack = model.stack
    except ConfigError as exc:
        return _Prepared(model, problem_findings(exc.problems, model.name))
    if stack is None:
        return _Prepared(model, [])
    try:
        rendered = render_stack(model)
    except MooringError as exc:
        finding = Finding(RENDER_CHECK, Outcome.FAILED, model.name, "stack", str(exc), "fix the template or report a bug")
        return _Prepared(model, [finding], stack)
    passed = Finding(RENDER_CHECK, Outcome.PASSED, model.name, "", "ok")
    return _Prepared(model, [passed, *_stand_in_findings(model.name, stack)], stack, rendered)


def _stand_in_findings(subject: str, stack: Stack) -> list[Finding]:
    """One SKIPPED finding per secret checked with a stand-in (``validate --no-secrets``)."""
    if not stand_ins_active():
        return []
    names = sorted({var.secret_name for var in stack.env.values() if var.secret_name})
    return [Finding("secrets.provided", Outcome.SKIPPED, subject, f"stack.env.{key}",
                    f"secret {name} not read (--no-secrets): rules about its value ran on a stand-in",
                    f"run mooring validate without --no-secrets where {name} is provided")
            for name in names for key in sorted(k for k, v in stack.env.items() if v.secret_name == name)[:1]]


def _warm(prepared: list[_Prepared]) -> None:
    """Run every host's external checkers at once (threads; identical files once)."""
    warm_tool_cache([(p.stack, p.rendered) for p in prepared if p.rendered is not None])


def _finish(prepared: _Prepared) -> list[Finding]:
    if prepared.stack is None:
        return prepared.findings
    problem = "" if prepared.rendered is not None else "rendering failed"
    return [*prepared.findings, *run_rules(prepared.model, prepared.stack, prepared.rendered, problem)]


def problem_findings(problems: Iterable[ConfigProblem], subject: str, check: str = DECLARED_CHECK) -> list[Finding]:
    """``ConfigError`` problems as FAILED findings about ``subject``."""
    return [Finding(check, Outcome.FAILED, subject, p.path, p.message, p.fix, p.file) for p in problems]


def check_host(name: str, groups: Iterable[str], group_data: Path | None = None) -> list[Finding]:
    """Build one host's model from the YAML layers and check it; problems become findings.

    >>> check_host("docker-1", ["sandbox"])[0].check  # doctest: +SKIP
    'declared'
    """
    return check_hosts([InventoryHost(name, tuple(groups))], group_data)


def check_hosts(hosts: Iterable[InventoryHost], group_data: Path | None = None) -> list[Finding]:
    """:func:`check_host` for many hosts, with their external checkers run concurrently."""
    prepared: list[_Prepared] = []
    findings: list[Finding] = []
    for host in hosts:
        try:
            model = build_model(host.name, host.groups, None, group_data)
        except ConfigError as exc:
            findings.extend(problem_findings(exc.problems, host.name))
            continue
        item = _prepare(model)
        if not any(f.check == DECLARED_CHECK for f in item.findings):
            item.findings.insert(0, Finding(DECLARED_CHECK, Outcome.PASSED, host.name, "", "ok"))
        prepared.append(item)
    _warm(prepared)
    for item in prepared:
        findings.extend(_finish(item))
    return findings


@dataclass(frozen=True)
class PreflightReport:
    """The outcome of a pre-flight over an inventory: the hosts checked and every finding."""

    inventory: str
    hosts: tuple[InventoryHost, ...]
    findings: list[Finding]

    @property
    def valid(self) -> bool:
        """True when no finding FAILED."""
        return not failed(self.findings)


def preflight_inventory(inventory_path: str, limit: list[str] | None = None,
                        group_data: str | Path | None = None) -> list[Finding]:
    """Check every host of a pyinfra inventory (or those matching ``limit``) without connecting.

    Group data is read straight from the YAML layers in ``group_data`` (default
    ``MOORING_GROUP_DATA`` or ``group_data/``), so every broken file is reported, not only the
    first one the shims would hit. A finding identical on every host of a group is reported
    once, with subject ``group:<name>``.

    >>> preflight_inventory("inventories/production.py")  # doctest: +SKIP
    [Finding(check='production.secrets', outcome=<Outcome.FAILED: 'failed'>, subject='group:production', ...)]
    """
    return preflight_report(inventory_path, limit, group_data).findings


def preflight_report(inventory_path: str, limit: list[str] | None = None,
                     group_data: str | Path | None = None) -> PreflightReport:
    """Like :func:`preflight_inventory`, also naming the hosts that were checked.

    >>> preflight_report("inventories/staging.py").valid  # doctest: +SKIP
    True
    """
    folder = Path(group_data) if group_data else group_data_dir()
    if not (folder / "all.yml").is_file():
        return PreflightReport(inventory_path, (), [Finding(
            DECLARED_CHECK, Outcome.FAILED, str(folder), "", f"no declared state: {folder}/all.yml does not exist",
            "point --group-data (or MOORING_GROUP_DATA) at the folder with all.yml and the group files")])
    try:
        hosts = inventory_hosts(inventory_path)
    except MooringError as exc:
        return PreflightReport(inventory_path, (), [Finding(
            INVENTORY_CHECK, Outcome.FAILED, inventory_path, "", str(exc),
            "do what the message says, or fix the inventory (module-level lists of host names)")])
    selected = select_hosts(hosts, limit)
    if not selected:
        wanted = f" matching {', '.join(limit)}" if limit else ""
        return PreflightReport(inventory_path, (), [Finding(INVENTORY_CHECK, Outcome.FAILED, inventory_path, "",
                                                            f"no hosts{wanted} in the inventory", "check the inventory and --limit")])
    findings = check_hosts(selected, folder) + host_key_findings(selected, inventory_path)
    return PreflightReport(inventory_path, tuple(selected), sort_findings(group_findings(findings, selected, folder)))


def assert_host_ready(host: Any) -> HostModel:
    """For deploy files: build the pyinfra ``host``'s model and run the pre-flight; raise
    ``ConfigError`` (a ``PyinfraError``: printed without traceback, before any operation)
    listing every FAILED finding. Warnings are logged.

    >>> from pyinfra import host
    >>> model = assert_host_ready(host)  # doctest: +SKIP
    """
    model = host_model(host)
    findings = check_model(model)
    for finding in findings:
        if finding.outcome is Outcome.WARNING:
            log.warning("%s", finding)
    problems = [ConfigProblem(f.file or f.subject, f.path, f"{f.check}: {f.message}", f.fix) for f in failed(findings)]
    if problems:
        raise ConfigError(problems)
    return model


# --- inventory ------------------------------------------------------------------------------

def inventory_hosts(inventory_path: str) -> list[InventoryHost]:
    """The hosts of a pyinfra inventory file with their groups, like ``pyinfra`` builds them
    (module-level lists/tuples of names or ``(name, data)``; the file's stem is a group too).
    Nothing connects. A comma-separated list of host names is accepted as well.

    >>> [h.groups for h in inventory_hosts("inventories/production.py")][0]  # doctest: +SKIP
    ('production',)
    """
    path = Path(inventory_path)
    if not path.is_file():
        if path.suffix == ".py" or "/" in inventory_path:
            raise MooringError(f"inventory {inventory_path} does not exist")
        return [InventoryHost(name.strip(), ()) for name in inventory_path.split(",") if name.strip()]
    namespace = _exec_inventory(path)
    groups: dict[str, list[str]] = {}
    data: dict[str, dict[str, Any]] = {}
    for key, value in namespace.items():
        try:
            names = _group_hosts(key, value)
        except ValueError as exc:
            raise MooringError(f"inventory {inventory_path}: {exc}") from None
        if names is not None:
            groups[key] = names
            for name, host_data in _host_data(value).items():
                data[name] = {**data.get(name, {}), **host_data}
    all_hosts = groups.pop("all", None) or list(dict.fromkeys(n for names in groups.values() for n in names))
    file_group = path.stem
    if file_group not in groups:
        groups[file_group] = list(all_hosts)
    return [InventoryHost(name, tuple(g for g, names in groups.items() if name in names), data.get(name, {}))
            for name in all_hosts]


def _host_data(value: Any) -> dict[str, dict[str, Any]]:
    """Host name → the data an inventory group gives it: the group's own data (``([names], {data})``)
    under each host's own (``(name, {data})``)."""
    group_data: dict[str, Any] = {}
    if isinstance(value, tuple):
        value, group_data = value
    found = {}
    for item in value:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], dict):
            found[item[0]] = {**group_data, **item[1]}
        elif isinstance(item, str):
            found[item] = dict(group_data)
    return found


def host_key_findings(hosts: Iterable[InventoryHost], inventory_path: str) -> list[Finding]:
    """A FAILED finding per host whose inventory weakens host-key checking (mooring's default,
    from group_data/all.py, is strict); first contact is accepted here, bootstrap judges it."""
    from mooring.declare.model import HOST_KEY_SETTING, STRICT_HOST_KEYS, host_key_problems

    findings = []
    for host in hosts:
        effective = {HOST_KEY_SETTING: STRICT_HOST_KEYS, **host.data}
        for problem in host_key_problems(host.name, effective, first_contact_ok=True, where=inventory_path):
            findings.append(Finding(HOST_KEYS_CHECK, Outcome.FAILED, host.name, problem.path, problem.message,
                                    problem.fix, file=inventory_path))
    return findings


def _exec_inventory(path: Path) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__file__": str(path), "__name__": "mooring_inventory"}
    try:
        code = compile(path.read_text(encoding="utf-8"), str(path), "exec")
        exec(code, namespace)  # noqa: S102 - an inventory is Python by pyinfra's design
    except SyntaxError as exc:
        raise MooringError(f"inventory {path}: line {exc.lineno}: {exc.msg}") from None
    except Exception as exc:  # the inventory's own error (e.g. no sandbox yet) is the message
        raise MooringError(f"inventory {path}: {type(exc).__name__}: {exc}") from None
    return namespace


def _group_hosts(key: str, value: Any) -> list[str] | None:
    """The host names of inventory group ``key``, read as pyinfra reads them: a list of hosts, or
    a ``(hosts, data)`` tuple; each host a name or ``(name, data)``. None when ``key`` is no group
    (pyinfra skips it too); ValueError for a group pyinfra would misread or refuse."""
    if key.startswith("_") or not isinstance(value, (list, tuple)):
        return None
    if isinstance(value, tuple):  # pyinfra: always (hosts, data)
        if len(value) != 2 or not isinstance(value[0], (list, tuple)) or not isinstance(value[1], dict):
            raise ValueError(f"group {key} is a tuple, which pyinfra reads as (hosts, data): write a list, "
                             f"{key} = [\"host-1\", ...], or ([\"host-1\", ...], {{...data}})")
        value = value[0]
    names = []
    for item in value:
        if isinstance(item, str):
            names.append(item)
        elif not isinstance(item, tuple):
            return None  # pyinfra skips such a group (with a warning): it holds no hosts
        elif len(item) == 2 and isinstance(item[0], str) and isinstance(item[1], dict):
            names.append(item[0])
        else:
            raise ValueError(f"group {key}: host entry {item!r} is neither a name nor (name, {{...data}}): "
                             f"write \"host-1\" or (\"host-1\", {{\"ssh_port\": 22}})")
    return names or None


def select_hosts(hosts: list[InventoryHost], limit: list[str] | None) -> list[InventoryHost]:
    """The hosts whose name or one of whose groups matches a ``limit`` pattern (all without limit)."""
    if not limit:
        return list(hosts)
    patterns = [p for item in limit for p in item.split(",") if p]
    return [h for h in hosts if any(fnmatch.fnmatch(h.name, p) or p in h.groups for p in patterns)]


# --- reporting shape ----------------------------------------------------------------------------

def group_findings(findings: list[Finding], hosts: list[InventoryHost], group_data: Path | None = None) -> list[Finding]:
    """Collapse findings that are identical on every host of a group into one ``group:<name>`` finding.

    A group qualifies when it has at least two of the checked hosts and the finding holds for
    exactly those hosts; groups with a YAML layer (and the one whose file the finding names)
    are preferred.
    """
    members: dict[str, set[str]] = {}
    for host in hosts:
        for group in host.groups:
            members.setdefault(group, set()).add(host.name)
    folder = group_data or group_data_dir()
    by_key: dict[Finding, list[Finding]] = {}
    for finding in findings:  # alike in every field but the subject (a host's own finding keeps its host)
        by_key.setdefault(replace(finding, subject=""), []).append(finding)
    out: list[Finding] = []
    for same in by_key.values():
        subjects = {f.subject for f in same}
        group = _covering_group(subjects, members, same[0].file, folder)
        if group:
            out.append(replace(same[0], subject=f"{GROUP_SUBJECT}{group}"))
        else:
            out.extend(dict.fromkeys(same))
    return out


def _covering_group(subjects: set[str], members: dict[str, set[str]], file: str, folder: Path) -> str | None:
    if len(subjects) < 2:
        return None
    candidates = [g for g, names in members.items() if names == subjects]
    if not candidates:
        return None

    def preference(group: str) -> tuple[int, int]:
        named = 0 if file.endswith(f"/{group}.yml") else 1
        has_layer = 0 if (folder / f"{group}.yml").exists() else 1
        return named, has_layer

    return sorted(candidates, key=preference)[0]


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Failures first, then warnings, skipped and passed; stable by subject, check and path."""
    return sorted(findings, key=lambda f: (_ORDER[f.outcome], f.subject, f.check, f.path, f.message))
