"""Drift: has anything on a host moved away from the declared, rendered state?

:func:`drift_findings` compares one host's snapshot with what a deploy would write, resource by
resource, and returns findings of kind ``drift``: FAILED means "moved", with what was expected
and what was found (modes, owners, "present"/"missing"/"differs", digests of public files;
never an env value). The live rules that make sense for drift run beside it
(:func:`mooring.checks.live.run_live_rules` with ``drift=True``).

Values are compared without reading them: the host prints keyed digests (see
:mod:`mooring.checks.snapshot`) and the controller computes the same from the rendered files.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

from mooring.checks.findings import Finding, Kind, Outcome
from mooring.checks.live import HostView, file_problems, run_live_rules
from mooring.checks.snapshot import expected_config_digests, expected_env_digests, keyed_digest, snapshot_key
from mooring.declare.render import RenderedFile

DEPLOY_FIX = "deploy again (mooring deploy) to put it back; change it in the declared state, not on the host"


def drift_findings(view: HostView, *, key: bytes | None = None, config_digests: dict[str, str] | None = None) -> list[Finding]:
    """Every drift of one host: files, .env keys, service staleness, plus the live rules.

    + key: the host's snapshot key (default: derived from the controller's digest key)
    + config_digests: service → expected keyed config digest (default: computed with the
      local Compose binary; pass ``{}`` to skip the config-hash comparison)
    """
    view = replace(view, kind=Kind.DRIFT)
    stack = view.stack
    key = snapshot_key(view.model.name, stack.dir) if key is None else key
    comparable = view.snapshot.key_matches(key)
    findings = _key_state(view, comparable)
    findings += _files(view, key if comparable else None)
    findings += _env(view, key if comparable else None)
    if config_digests is None and comparable:
        try:
            config_digests = expected_config_digests(stack, view.rendered, key)
        except RuntimeError as exc:
            findings.append(view.finding("drift.service", Outcome.ERROR, "services", str(exc),
                                         "run `mooring validate`: the rendered compose file must be valid"))
            config_digests = {}
    findings += _services(view, config_digests if comparable else {})
    findings += run_live_rules(view, drift=True)
    return findings


def _key_state(view: HostView, comparable: bool | None) -> list[Finding]:
    if comparable:
        return []
    why = ("the host holds no snapshot key yet" if comparable is None
           else "the host's snapshot key is not this controller's (another digest key?)")
    return [view.finding("drift.values", Outcome.WARNING, f"file:{view.stack.env_file}",
                         f"secret values are not compared: {why}",
                         "deploy once from this controller (mooring deploy) to enable value comparison")]


def _files(view: HostView, key: bytes | None) -> list[Finding]:
    found = []
    for directory in view.rendered.directories:
        state = view.snapshot.file(directory.path)
        for what, expected, actual in file_problems(state, directory.mode, directory.owner, directory.group):
            found.append(view.finding("drift.file", Outcome.FAILED, f"dir:{directory.path}", f"{directory.path} {what}",
                                      DEPLOY_FIX, expected=expected, actual=actual))
    for item in view.rendered.files:
        found += _file(view, item, key)
    return found or [view.passed("drift.file", "files",
                                 f"{len(view.rendered.files)} files, {len(view.rendered.directories)} folders as declared")]


def _file(view: HostView, item: RenderedFile, key: bytes | None) -> list[Finding]:
    state = view.snapshot.file(item.path)
    resource = f"file:{item.path}"
    problems = file_problems(state, item.mode, item.owner, item.group)
    found = [view.finding("drift.file", Outcome.FAILED, resource, f"{item.path} {what}", DEPLOY_FIX,
                          expected=expected, actual=actual) for what, expected, actual in problems]
    if state is None or not state.exists or state.hidden:
        return found
    if item.secret:
        if key is not None and state.digest is not None:
            if state.digest != keyed_digest(key, item.content.encode("utf-8")):
                found.append(view.finding("drift.file", Outcome.FAILED, resource,
                                          f"{item.path} differs from the declared content (a secret file: not shown)",
                                          DEPLOY_FIX, expected="as rendered", actual="differs"))
        return found
    digest = hashlib.sha256(item.content.encode("utf-8")).hexdigest()
    if state.sha256 != digest:
        found.append(view.finding("drift.file", Outcome.FAILED, resource, f"{item.path} differs from the declared content",
                                  DEPLOY_FIX, expected=f"sha256 {digest[:12]}",
                                  actual=f"sha256 {(state.sha256 or 'unknown')[:12]}"))
    return found


def _env(view: HostView, key: bytes | None) -> list[Finding]:
    """Keys the host's .env lacks, holds empty, holds with another value, or holds undeclared.
    Missing keys and empty required ones are the live rule's (``live.env``)."""
    stack, env = view.stack, view.snapshot.env
    if env.status != "read":
        return []
    found = []
    expected = expected_env_digests(stack, key) if key is not None else {}
    for name, var in sorted(stack.env.items()):
        item = env.key(name)
        if item is None:
            continue
        path = f"stack.env.{name}"
        if item.empty and var.value:
            found.append(view.finding("drift.env", Outcome.FAILED, f"env:{name}", f"{name} is empty on the host",
                                      DEPLOY_FIX, path=path, expected="as declared", actual="empty"))
        elif env.differs(name, expected):
            found.append(view.finding("drift.env", Outcome.FAILED, f"env:{name}",
                                      f"{name} holds another value on the host (not shown)", DEPLOY_FIX, path=path,
                                      expected="as declared", actual="differs"))
    for name in env.names():
        if name not in stack.env:
            found.append(view.finding("drift.env", Outcome.FAILED, f"env:{name}",
                                      f"{name} is in the host's .env but not declared", DEPLOY_FIX,
                                      expected="absent", actual="present"))
    return found or [view.passed("drift.env", f"file:{stack.env_file}",
                                 "every key as declared" if key is not None else "every key present")]


def _services(view: HostView, config_digests: dict[str, str]) -> list[Finding]:
    """Services whose container was made from another configuration than the declared one."""
    found = []
    for name in sorted(view.stack.services):
        container = view.snapshot.service(name)
        want = config_digests.get(name)
        if container is None or want is None or container.config_digest is None:
            continue
        if container.config_digest != want:
            found.append(view.finding("drift.service", Outcome.FAILED, f"service:{name}",
                                      f"{name} runs with another configuration than the declared one (stale)",
                                      "deploy again (mooring deploy) to recreate it", path=f"stack.services.{name}",
                                      expected="config as declared", actual="config differs"))
    return found
