"""Rules on the stack's env: every used key declared, no line breaks, no shell-variable collisions."""

from __future__ import annotations

import re

from mooring.checks.findings import Finding, Outcome
from mooring.checks.registry import RuleContext, rule
from mooring.checks.rules.common import _declared_in_env, _uses, compose_references, service_references
from mooring.declare.compose import KEPT_VARIABLES


@rule("env.complete")
def env_complete(ctx: RuleContext, name: str) -> list[Finding]:
    """Every env key a service receives, requires or references is declared and not empty (unless
    declared ``allow_empty`` and no service lists it in ``required_env``)."""
    stack = ctx.stack
    found: list[Finding] = []
    uses = _uses(stack)
    refs = [ref for service in stack.services.values() for found_in in service_references(service).values()
            for ref in found_in]
    if ctx.rendered is not None:
        compose = ctx.rendered.file(stack.compose_file).content
        lines = "\n".join(line for line in compose.splitlines() if not line.lstrip().startswith("#"))
        refs += compose_references(lines)
        for key in sorted({ref.key for ref in refs if not ref.has_default} - set(uses)):
            uses.setdefault(key, []).append("stack.services")
    # ${KEY:?...}: Compose refuses an empty value, whatever allow_empty says.
    demanded = {ref.key for ref in refs if ref.operator == ":?"}
    demanded |= {key for s in stack.services.values() for key in s.required_env}
    for key in sorted(uses):
        paths = list(dict.fromkeys(uses[key]))
        services = ", ".join(_services_at(stack, paths))
        if key not in stack.env:
            example = {"REDIS_URL": "redis://redis:6379/0", "POSTGRES_DB": "readme_to_recover"}.get(key, "...")
            found.append(ctx.finding(name, Outcome.FAILED, paths[0],
                                     f"{key} is used by {services or 'the compose file'} but stack.env does not declare it",
                                     f"declare it in stack.env, e.g. `{key}: {example}`, or stop using it"))
        elif stack.env[key].value.strip() == "" and _declared_in_env(stack.env[key]) and (
                not stack.env[key].allow_empty or key in demanded):
            var = stack.env[key]
            source = (f"secret {var.secret_name} resolved to an empty string" if var.secret_name
                      else "the declared value is empty")
            fix = ("give it a value (an empty variable is as bad as a missing one), or, when "
                   f"{services} accepts it empty, declare `{key}: {{value: \"\", allow_empty: true}}`")
            if key in demanded:
                fix = f"give it a value: {services} demands it not empty (required_env, or ${{{key}:?...}})"
            found.append(ctx.finding(name, Outcome.FAILED, var.path, f"{key} is empty ({source}) but {services} needs it", fix))
    return found


def _services_at(stack, paths: list[str]) -> list[str]:
    """The names of the services whose key paths are among ``paths`` (``stack.services.api.env``,
    or a compose stack's ``stack.compose.services.api.required_env``)."""
    return sorted({name for name, service in stack.services.items()
                   for path in paths if path == service.path or path.startswith(f"{service.path}.")})


@rule("env.line_breaks")
def env_line_breaks(ctx: RuleContext, name: str) -> list[Finding]:
    """Declared values hold no line break or control character unless marked multiline."""
    found = []
    for var in ctx.stack.env.values():
        if var.secret_name:
            continue
        text = var.masked
        if ("\n" in text or "\r" in text) and not var.multiline:
            found.append(ctx.finding(name, Outcome.FAILED, var.path,
                                     "the value contains a line break (a YAML `|` block keeps a trailing newline)",
                                     "use `>-`/`|-` or a one-line string; if the line breaks are wanted write "
                                     "{value: ..., multiline: true}"))
        elif re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", text):
            found.append(ctx.finding(name, Outcome.FAILED, var.path, "the value contains a control character",
                                     "remove it (copied from a terminal?)"))
    return found


@rule("env.shell_collision")
def env_shell_collision(ctx: RuleContext, name: str) -> list[Finding]:
    """No stack env key is one of the two variables Compose keeps from the caller (PATH, HOME:
    it runs with a clean environment otherwise) or one of Compose's own settings, which it also
    reads from the .env (COMPOSE_*, DOCKER_*)."""
    found = []
    for var in ctx.stack.env.values():
        if var.key in KEPT_VARIABLES:
            why = "Compose keeps the host's own value (it runs with a clean environment but PATH and HOME)"
        elif var.key.startswith(("COMPOSE_", "DOCKER_")):
            why = "Compose reads it from the .env as its own setting, not only as the stack's"
        else:
            continue
        found.append(ctx.finding(name, Outcome.FAILED, var.path, f"{var.key}: {why}",
                                 f"rename it (e.g. APP_{var.key}) and map it in the application"))
    return found
