"""Live rules: is a deployed host sound? Each rule reads the declared model and one host
snapshot (:mod:`mooring.checks.snapshot`) and returns findings of kind ``live``; nothing here talks
to a host.

``mooring check`` runs every live rule (plus the HTTP probes); ``mooring drift`` runs the
ones marked ``in_drift`` beside the drift comparisons of :mod:`mooring.checks.drift`, which cover
the rest (file content, modes, owners) resource by resource.

Messages name keys, paths, services and states, never an env value.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Callable

from mooring.checks.findings import Finding, Kind, Outcome
from mooring.checks.snapshot import FileState, HostSnapshot, ServiceState
from mooring.declare.model import HostModel, Stack
from mooring.declare.cron import longest_gap_minutes
from mooring.declare.render import RenderedStack, backup_log_path, backup_metrics_path, cron_file_path, drill_metrics_path

#: A backup older than this is stale (the nightly job plus two hours of slack).
BACKUP_MAX_AGE_S = 26 * 3600
#: How long a scheduled drill may run past its schedule's longest gap before it counts as late.
DRILL_SLACK_S = 2 * 3600
DAY_S = 24 * 3600


@dataclass(frozen=True)
class HostView:
    """What a live or drift rule looks at: one host's model, its rendered files, its snapshot."""

    model: HostModel
    rendered: RenderedStack
    snapshot: HostSnapshot
    now: float = field(default_factory=time.time)
    kind: Kind = Kind.LIVE

    @property
    def stack(self) -> Stack:
        assert self.model.stack is not None  # hosts without a stack get no view
        return self.model.stack

    def finding(self, check: str, outcome: Outcome, resource: str, message: str = "", fix: str = "",
                path: str = "", expected: str = "", actual: str = "") -> Finding:
        """A finding about this host; ``path`` is the declared key it concerns (for the file name)."""
        merged = self.model.merged
        return Finding(check, outcome, self.model.name, path, message, fix, merged.file_of(path) if path else "",
                       host=self.model.name, kind=self.kind, resource=resource, expected=expected, actual=actual)

    def passed(self, check: str, resource: str, message: str = "ok") -> Finding:
        return self.finding(check, Outcome.PASSED, resource, message)


LiveRule = Callable[[HostView], list[Finding]]


@dataclass(frozen=True)
class LiveSpec:
    """A registered live rule; ``in_drift`` rules also run in ``mooring drift``."""

    name: str
    func: LiveRule
    in_drift: bool


LIVE_RULES: dict[str, LiveSpec] = {}


def live_rule(name: str, in_drift: bool = True) -> Callable[[LiveRule], LiveRule]:
    """Register a live rule under ``name`` (refused when taken)."""
    def register(func: LiveRule) -> LiveRule:
        if name in LIVE_RULES:
            raise ValueError(f"live rule {name!r} is already registered")
        LIVE_RULES[name] = LiveSpec(name, func, in_drift)
        return func
    return register


def run_live_rules(view: HostView, *, drift: bool = False) -> list[Finding]:
    """Run every live rule (``drift``: only those that run in drift) on one host's view."""
    findings: list[Finding] = []
    for name in sorted(LIVE_RULES):
        spec = LIVE_RULES[name]
        if drift and not spec.in_drift:
            continue
        try:
            findings += spec.func(view)
        except Exception as exc:  # one rule's bug must not hide the others' findings
            findings.append(view.finding(name, Outcome.ERROR, "rule", f"internal error in rule: {type(exc).__name__}",
                                         "report this as a mooring bug"))
    return findings


# --- the snapshot itself ------------------------------------------------------------------------

@live_rule("live.snapshot")
def snapshot_read(view: HostView) -> list[Finding]:
    """The snapshot was read whole; lines it could not read are named."""
    snap = view.snapshot
    found = []
    if not snap.complete:
        found.append(view.finding("live.snapshot", Outcome.ERROR, "snapshot", "the host's report was cut short",
                                  "run again; if it persists, run `mooring -v check` and report it"))
    found += [view.finding("live.snapshot", Outcome.WARNING, "snapshot", warning) for warning in snap.warnings]
    return found or [view.passed("live.snapshot", "snapshot", "read whole")]


# --- engine ------------------------------------------------------------------------------------

@live_rule("live.engine")
def engine_sound(view: HostView) -> list[Finding]:
    """Docker answers, ``docker compose`` is v2, and no Compose v1 is installed."""
    engine = view.snapshot.engine
    found = []
    if engine.docker != "present":
        found.append(view.finding("live.engine", Outcome.FAILED, "engine:docker", "the docker client is missing",
                                  "run `mooring bootstrap` for this host", expected="docker installed",
                                  actual=engine.docker))
    elif not engine.engine:
        found.append(view.finding("live.engine", Outcome.FAILED, "engine:docker",
                                  f"the docker engine does not answer ({engine.engine_error or 'no reason given'})",
                                  "start it: systemctl start docker", expected="engine running", actual="not answering"))
    if engine.docker == "present" and not engine.compose_v2:
        found.append(view.finding("live.engine", Outcome.FAILED, "engine:compose", "`docker compose` is not Compose v2",
                                  "run `mooring bootstrap` (installs the pinned Compose v2 plugin)",
                                  expected="compose 2.x", actual=engine.compose or "missing"))
    if engine.has_v1:
        where = engine.v1_path or ", ".join(engine.v1_pip) or engine.v1_package or "on the host"
        found.append(view.finding("live.engine", Outcome.FAILED, "engine:compose-v1",
                                  f"Compose v1 is installed ({where}): it breaks the backup container",
                                  "remove it (apt-get purge docker-compose / pip uninstall docker-compose), "
                                  "or run `mooring bootstrap`", expected="no Compose v1",
                                  actual=engine.v1_version or "present"))
    return found or [view.passed("live.engine", "engine:docker", f"engine {engine.engine}, compose {engine.compose}")]


# --- env -----------------------------------------------------------------------------------------

def _required_keys(stack: Stack) -> set[str]:
    return {key for service in stack.services.values() for key in service.required_env}


@live_rule("live.env")
def env_complete(view: HostView) -> list[Finding]:
    """The deployed .env holds every declared key; required keys are non-empty."""
    stack, env = view.stack, view.snapshot.env
    resource = f"file:{stack.env_file}"
    if env.status != "read":
        return [view.finding("live.env", Outcome.FAILED, resource, f"the .env file is {env.status}",
                             "deploy the stack (mooring deploy)", expected="present", actual=env.status)]
    found = []
    required = _required_keys(stack)
    for name in sorted(set(stack.env) | required):
        path = f"stack.env.{name}"
        item = env.key(name)
        if item is None:
            outcome = Outcome.FAILED
            found.append(view.finding("live.env", outcome, f"env:{name}", f"{name} is missing from the deployed .env",
                                      "deploy again (mooring deploy); never edit .env on the host", path=path,
                                      expected="present", actual="missing"))
        elif item.empty and name in required:
            found.append(view.finding("live.env", Outcome.FAILED, f"env:{name}",
                                      f"{name} is empty in the deployed .env, and a service requires it",
                                      "declare a value and deploy again", path=path, expected="non-empty",
                                      actual="empty"))
    found += [view.finding("live.env", Outcome.WARNING, f"env:{name}", f"{name} is set on more than one line",
                           "deploy again: mooring writes each key once") for name in env.duplicates()]
    if env.bad_lines:
        lines = ", ".join(str(n) for n in env.bad_lines)
        found.append(view.finding("live.env", Outcome.WARNING, resource, f"lines {lines} are not KEY=value lines",
                                  "deploy again: mooring rewrites the file whole"))
    return found or [view.passed("live.env", resource, f"{len(env.names())} keys present, required ones non-empty")]


def file_problems(state: FileState | None, mode: str | None, owner: str | None, group: str | None) -> list[tuple[str, str, str]]:
    """(what, expected, actual) for each way ``state`` differs from the declared mode/owner/group."""
    if state is None or state.hidden:
        return [("could not be read", "readable", "unknown")]
    if not state.exists:
        return [("is missing", "present", "missing")]
    problems = []
    if mode and state.mode and int(state.mode, 8) != int(mode, 8):
        problems.append(("has another mode", f"mode {int(mode, 8):04o}", f"mode {int(state.mode, 8):04o}"))
    if owner and state.owner != owner:
        problems.append(("has another owner", f"owner {owner}", f"owner {state.owner}"))
    if group and state.group != group:
        problems.append(("has another group", f"group {group}", f"group {state.group}"))
    return problems


@live_rule("live.env_file", in_drift=False)
def env_file_private(view: HostView) -> list[Finding]:
    """The deployed .env is the rendered file's mode and owner (0600 root: it holds secrets)."""
    stack = view.stack
    declared = view.rendered.file(stack.env_file)
    resource = f"file:{stack.env_file}"
    problems = file_problems(view.snapshot.file(stack.env_file), declared.mode, declared.owner, declared.group)
    return [view.finding("live.env_file", Outcome.FAILED, resource, f"{stack.env_file} {what}",
                         "deploy again (mooring deploy) to restore it", expected=expected, actual=actual)
            for what, expected, actual in problems] or [view.passed("live.env_file", resource,
                                                                    f"mode {declared.mode}, owner {declared.owner}")]


@live_rule("live.compose_file", in_drift=False)
def compose_file_as_declared(view: HostView) -> list[Finding]:
    """The compose file on the host is the rendered one, byte for byte."""
    stack = view.stack
    state = view.snapshot.file(stack.compose_file)
    resource = f"file:{stack.compose_file}"
    want = view.rendered.file(stack.compose_file)
    digest = hashlib.sha256(want.content.encode("utf-8")).hexdigest()
    if state is None or not state.exists:
        return [view.finding("live.compose_file", Outcome.FAILED, resource, "the compose file is missing",
                             "deploy the stack (mooring deploy)", expected="present", actual="missing")]
    if state.sha256 != digest:
        return [view.finding("live.compose_file", Outcome.FAILED, resource,
                             "the compose file differs from the declared one", "deploy again (mooring deploy)",
                             expected=f"sha256 {digest[:12]}", actual=f"sha256 {(state.sha256 or 'unknown')[:12]}")]
    return [view.passed("live.compose_file", resource, "as declared")]


# --- services ------------------------------------------------------------------------------------

@live_rule("live.services")
def services_running(view: HostView) -> list[Finding]:
    """Every declared service runs (a ``restart: "no"`` job may have finished with exit 0), is
    healthy where it has a healthcheck, on its image's current ID."""
    found = []
    snap = view.snapshot
    for name, service in sorted(view.stack.services.items()):
        resource, path = f"service:{name}", f"stack.services.{name}"
        container = snap.service(name)
        if container is None:
            found.append(view.finding("live.services", Outcome.FAILED, resource, f"{name} has no container",
                                      "deploy again (mooring deploy)", path=path, expected="running", actual="absent"))
            continue
        found += _container_down(view, container, service.restart, service.healthcheck is not None, path)
        if not container.running:
            continue
        image_id = snap.image_id(service.image)
        if image_id and container.image_id != image_id:
            found.append(view.finding("live.services", Outcome.FAILED, resource,
                                      f"{name} runs another image than {service.image} names now (stale)",
                                      "deploy again (mooring deploy) to recreate it", path=f"{path}.image",
                                      expected=image_id[:19], actual=container.image_id[:19]))
        elif image_id is None:
            found.append(view.finding("live.services", Outcome.FAILED, resource,
                                      f"the host has no image {service.image}", "deploy again (mooring deploy)",
                                      path=f"{path}.image", expected=service.image, actual="missing"))
    return found or [view.passed("live.services", "services", f"{len(view.stack.services)} services running")]


def restored_services(view: HostView) -> list[Finding]:
    """After a rollback: every container of the stack runs (a ``restart: "no"`` job may have
    finished with exit 0) and is healthy where it has a healthcheck. The restored release runs
    its own services and images, not the ones declared now (one rolls back because the new ones
    fail), so neither is compared with the declared state; the deploy gate does that."""
    found = []
    containers = sorted((c for c in view.snapshot.services if not c.oneoff), key=lambda c: (c.service, c.name))
    for container in containers:
        service = view.stack.services.get(container.service)
        found += _container_down(view, container, service.restart if service else "", container.health != "none",
                                 f"stack.services.{container.service}" if service else "")
    if not containers:
        return [view.finding("live.services", Outcome.FAILED, "services", "no container of the stack exists",
                             "read `mooring -v rollback`: the restore did not start the release", actual="absent")]
    return found or [view.passed("live.services", "services", f"{len(containers)} containers running")]


def _container_down(view: HostView, container: ServiceState, restart: str, healthcheck: bool,
                    path: str) -> list[Finding]:
    """Why one container does not count as up: stopped (unless a ``restart: "no"`` job that
    finished with exit 0), or not healthy by its healthcheck; [] when it is up."""
    name, resource = container.service, f"service:{container.service}"
    if restart == "no" and container.state == "exited" and container.exit_code == 0:
        return []  # a one-shot job that finished
    if not container.running:
        return [view.finding("live.services", Outcome.FAILED, resource, f"{name} is {container.state}",
                             f"start it (mooring deploy), and read why it stopped: docker logs {container.name}",
                             path=path, expected="running", actual=container.state)]
    if healthcheck and container.health != "healthy":
        outcome = Outcome.WARNING if container.health == "starting" else Outcome.FAILED
        return [view.finding("live.services", outcome, resource, f"{name} is {container.health}",
                             f"read its healthcheck log: docker inspect {container.name}", path=path,
                             expected="healthy", actual=container.health)]
    return []


# --- mounts ----------------------------------------------------------------------------------------

@live_rule("live.mounts")
def read_only_sources(view: HostView) -> list[Finding]:
    """Read-only bind-mount sources exist with the declared owner, group and mode."""
    found, checked = [], 0
    for name, service in sorted(view.stack.services.items()):
        for number, mount in enumerate(service.volumes):
            if mount.type != "bind" or not mount.read_only:
                continue
            checked += 1
            state = view.snapshot.file(mount.source)
            for what, expected, actual in file_problems(state, mount.mode, mount.owner, mount.group):
                found.append(view.finding("live.mounts", Outcome.FAILED, f"file:{mount.source}",
                                          f"{mount.source} (read-only in {name}) {what}", "deploy again (mooring deploy)",
                                          path=f"stack.services.{name}.volumes.{number}", expected=expected,
                                          actual=actual))
    return found or [view.passed("live.mounts", "mounts", f"{checked} read-only sources as declared")]


# --- backups ---------------------------------------------------------------------------------------

@live_rule("live.backups.cron")
def backup_cron(view: HostView) -> list[Finding]:
    """The backup cron file is installed and the cron daemon runs."""
    stack = view.stack
    if not (stack.backups.enabled and stack.backups.service):
        return []
    path = cron_file_path(stack)
    cron = next((c for c in view.snapshot.cron if c.path == path), None)
    found = []
    if cron is None or cron.status != "read":
        found.append(view.finding("live.backups.cron", Outcome.FAILED, f"cron:{path}",
                                  f"the backup cron file is {cron.status if cron else 'not read'}",
                                  "deploy again (mooring deploy)", path="stack.backups", expected="present",
                                  actual=cron.status if cron else "unknown"))
    if view.snapshot.cron_daemon != "running":
        found.append(view.finding("live.backups.cron", Outcome.FAILED, "daemon:cron",
                                  f"the cron daemon is {view.snapshot.cron_daemon}: no backup will run",
                                  "start it: systemctl start cron", expected="running", actual=view.snapshot.cron_daemon))
    return found or [view.passed("live.backups.cron", f"cron:{path}", "installed, cron running")]


@live_rule("live.backups.fresh")
def backups_fresh(view: HostView) -> list[Finding]:
    """The newest dump of each database is younger than 26 h; none the job should have pruned
    (beyond its ``keep_newest`` newest) is older than retention + 1 day."""
    stack = view.stack
    if not (stack.backups.enabled and stack.backups.service):
        return []
    state = view.snapshot.backups
    resource = f"backups:{stack.backups.directory}"
    if state.status != "listed":
        return [view.finding("live.backups.fresh", Outcome.FAILED, resource, f"the backup folder is {state.status}",
                             "deploy again (mooring deploy)", path="stack.backups.directory", expected="present",
                             actual=state.status)]
    found = []
    cron = view.snapshot.file(cron_file_path(stack))
    installed_at = cron.mtime if cron is not None and cron.mtime else None
    for database in stack.backups.databases:
        prefix = f"{stack.name}__{database}_"
        dumps = [d for d in state.dumps() if d.name.startswith(prefix)]
        if not dumps:
            young = installed_at is not None and view.now - installed_at < BACKUP_MAX_AGE_S
            found.append(view.finding("live.backups.fresh", Outcome.WARNING if young else Outcome.FAILED,
                                      f"backup:{database}", f"no backup of {database} yet"
                                      + (" (the job was installed less than 26 h ago)" if young else ""),
                                      "run the job now: mooring backup run, or wait for its schedule",
                                      path="stack.backups.databases", expected="a dump younger than 26 h",
                                      actual="none"))
            continue
        age = view.now - dumps[-1].mtime
        if age > BACKUP_MAX_AGE_S:
            found.append(view.finding("live.backups.fresh", Outcome.FAILED, f"backup:{database}",
                                      f"the newest backup of {database} is {age / 3600:.0f} h old",
                                      "read the job's log and run it: mooring backup run", path="stack.backups",
                                      expected="younger than 26 h", actual=f"{age / 3600:.0f} h"))
        limit = (stack.backups.retention_days + 1) * DAY_S
        # The job keeps the keep_newest newest (by the stamp in their names) whatever their age.
        prunable = sorted(dumps, key=lambda d: d.name)[:-stack.backups.keep_newest]
        old = [d.name for d in prunable if view.now - d.mtime > limit]
        if old:
            found.append(view.finding("live.backups.fresh", Outcome.FAILED, f"backup:{database}",
                                      f"{len(old)} backups of {database} are older than retention "
                                      f"({stack.backups.retention_days} days) + 1 day: pruning does not run",
                                      "read the job's log (the prune runs after each dump)",
                                      path="stack.backups.retention_days", expected="none older",
                                      actual=f"{len(old)} older"))
    return found or [view.passed("live.backups.fresh", resource, "fresh, pruned")]


@live_rule("live.backups.metrics")
def backup_metrics(view: HostView) -> list[Finding]:
    """The job's own metrics textfile: its last run succeeded, and its last success is younger
    than 26 h (the dump files alone do not say that the last runs failed)."""
    stack = view.stack
    if not (stack.backups.enabled and stack.backups.service):
        return []
    state = view.snapshot.metrics
    resource = f"file:{backup_metrics_path(stack)}"
    if state is None or state.status != "read":
        if view.snapshot.backups.dumps():  # dumps but no metrics: a job from before metrics, or a closed folder
            return [view.finding("live.backups.metrics", Outcome.WARNING, resource,
                                 "the backup job has written no metrics yet",
                                 "deploy again (the job writes them from its next run)", path="stack.backups.metrics_dir",
                                 expected="present", actual=state.status if state else "unknown")]
        return []  # no run yet: live.backups.fresh says so
    label = f'{{stack="{stack.name}"}}'
    samples = state.samples()
    failures = samples.get(f"mooring_backup_consecutive_failures{label}")
    success = samples.get(f"mooring_backup_last_success_timestamp_seconds{label}")
    if failures is None or success is None:
        return [view.finding("live.backups.metrics", Outcome.WARNING, resource,
                             "the metrics file lacks the job's samples", "run the job: mooring backup run",
                             path="stack.backups.metrics_dir", expected="mooring_backup_* samples", actual="missing")]
    found = []
    if failures > 0:
        found.append(view.finding("live.backups.metrics", Outcome.FAILED, resource,
                                  f"the last {failures:.0f} backup run(s) failed", "read the job's log "
                                  f"({backup_log_path(stack)}), then run it: mooring backup run", path="stack.backups",
                                  expected="0 consecutive failures", actual=f"{failures:.0f}"))
    if success <= 0 or view.now - success > BACKUP_MAX_AGE_S:
        age = "never" if success <= 0 else f"{(view.now - success) / 3600:.0f} h ago"
        found.append(view.finding("live.backups.metrics", Outcome.FAILED, resource,
                                  f"the job's last success was {age}", "run it: mooring backup run", path="stack.backups",
                                  expected="within 26 h", actual=age))
    return found or [view.passed("live.backups.metrics", resource, "last run succeeded")]


@live_rule("live.backups.verify")
def backup_verify(view: HostView) -> list[Finding]:
    """The restore drill's own metrics textfile: its last drill restored every dump whole and,
    with ``verify_schedule`` declared, it ran within the schedule's longest gap (plus 2 h)."""
    stack = view.stack
    if not (stack.backups.enabled and stack.backups.service):
        return []
    state = view.snapshot.verify_metrics
    resource = f"file:{drill_metrics_path(stack)}"
    label = f'{{stack="{stack.name}"}}'
    samples = state.samples() if state is not None and state.status == "read" else {}
    success = samples.get(f"mooring_backup_last_verify_success{label}")
    ran_at = samples.get(f"mooring_backup_last_verify_timestamp_seconds{label}")
    schedule = stack.backups.verify_schedule
    found = []
    if success is not None and success < 1:
        found.append(view.finding("live.backups.verify", Outcome.FAILED, resource,
                                  "the last restore drill failed: a dump does not restore whole",
                                  "run it to see which dump and why: mooring backup verify", path="stack.backups",
                                  expected="1 (restored whole)", actual=f"{success:.0f}"))
    if schedule:
        gap = longest_gap_minutes(schedule)
        limit = (gap or 0) * 60 + DRILL_SLACK_S
        if ran_at is None:
            cron = view.snapshot.file(cron_file_path(stack))
            young = cron is not None and bool(cron.mtime) and view.now - cron.mtime < limit
            found.append(view.finding("live.backups.verify", Outcome.WARNING if young else Outcome.FAILED, resource,
                                      "the scheduled restore drill has not run yet"
                                      + (" (installed less than one schedule period ago)" if young else ""),
                                      "run it now: mooring backup verify", path="stack.backups.verify_schedule",
                                      expected=f"a drill within {limit // 3600} h", actual="none"))
        elif view.now - ran_at > limit:
            age = f"{(view.now - ran_at) / 3600:.0f} h ago"
            found.append(view.finding("live.backups.verify", Outcome.FAILED, resource,
                                      f"the last restore drill ran {age}; its schedule ({schedule}) runs it "
                                      f"at least every {(gap or 0) // 60} h",
                                      "read the drill's log and run it: mooring backup verify",
                                      path="stack.backups.verify_schedule",
                                      expected=f"within {limit // 3600} h", actual=age))
    if found or success is None:
        return found
    return [view.passed("live.backups.verify", resource, "the last restore drill restored every dump whole")]


# --- releases --------------------------------------------------------------------------------------

@live_rule("live.release")
def release_settled(view: HostView) -> list[Finding]:
    """A release is current, no deploy is unfinished, and no deploy lock is held."""
    release = view.snapshot.release
    resource = "release:current"
    found = []
    if release.current is None:
        found.append(view.finding("live.release", Outcome.FAILED, resource, "no release is current",
                                  "deploy the stack (mooring deploy)", expected="a release", actual="none"))
    if release.pending:
        found.append(view.finding("live.release", Outcome.WARNING, "release:pending",
                                  "a deploy did not finish (a release is pending)",
                                  "deploy again: the next run finishes or rolls it back"))
    if release.locked:
        found.append(view.finding("live.release", Outcome.WARNING, "release:lock", "a deploy lock is held",
                                  "wait for the deploy to end, or `mooring unlock` if its run is gone"))
    return found or [view.passed("live.release", resource, f"release {release.current}")]
