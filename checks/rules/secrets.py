"""Rules on secrets: never in clear text in the layers, never in process arguments, URL-safe where embedded."""

from __future__ import annotations

from mooring.checks.findings import Finding, Outcome
from mooring.checks.registry import RuleContext, rule
from mooring.checks.rules.common import (URL_SAFE_RE, _declared_in_env, _service_path, _url_parts, receive_fix,
                                 service_references)
from mooring.declare.model import MASK
from mooring.declare.secrets import env_var_name, looks_secret, secrets_file


def _file_path(key: str, value: str) -> bool:
    """``*_FILE: /run/secrets/x``: the official images' secret-from-file pattern names a path, not a secret."""
    return key.upper().endswith("_FILE") and value.startswith("/") and not any(c.isspace() for c in value)


@rule("secrets.not_in_clear")
def secrets_not_in_clear(ctx: RuleContext, name: str) -> list[Finding]:
    """Secret-looking keys and URL passwords come from secret references, never clear YAML."""
    found = []
    for var in ctx.stack.env.values():
        if looks_secret(var.key) and not var.secret and var.value and _declared_in_env(var) and not _file_path(var.key, var.value):
            found.append(ctx.finding(name, Outcome.FAILED, var.path, f"{var.key} looks like a secret but is written in clear",
                                     f"write `{var.key}: {{secret: {var.key}}}` and provide it with "
                                     f"{env_var_name(var.key)} or {secrets_file(ctx.model.environment)}"))
            continue
        parts, _why = _url_parts(var)
        password = getattr(parts, "password", None) if parts else None
        if password and MASK not in password:
            found.append(ctx.finding(name, Outcome.FAILED, var.path, f"{var.key} carries a password in clear",
                                     "build the URL from a secret, e.g. postgresql://${POSTGRES_USER}:${POSTGRES_PASSWORD}@db:5432/${POSTGRES_DB}"))
    return found


@rule("secrets.not_in_args")
def secrets_not_in_args(ctx: RuleContext, name: str) -> list[Finding]:
    """No ``${KEY}`` of a secret in a command or healthcheck (compose writes it into container config and process args)."""
    found = []
    env = ctx.stack.env
    for service in ctx.stack.services.values():
        for where, refs in service_references(service).items():
            keys = dict.fromkeys(ref.key for ref in refs)
            for key in keys:
                if key in env and env[key].secret:
                    found.append(ctx.finding(name, Outcome.FAILED, _service_path(service, where),
                                             f"${{{key}}} puts secret {key} into the container's config and process "
                                             "arguments (docker inspect, ps)",
                                             _not_in_args_fix(ctx, service.name, key)))
    return found


def _not_in_args_fix(ctx: RuleContext, service: str, key: str) -> str:
    """Read the secret inside the container instead, and pass it to the container's environment."""
    receive = receive_fix(ctx.stack, service, key) if ctx.stack.compose else f"list {key} in stack.services.{service}.env"
    return f"read it from the environment inside the container (CMD-SHELL with $${key}) and {receive}"


@rule("secrets.url_safe")
def secrets_url_safe(ctx: RuleContext, name: str) -> list[Finding]:
    """Secrets embedded in URLs use only URL-safe characters (else the URL parses wrong)."""
    found = []
    for var in ctx.stack.env.values():
        if not var.secret or var.secret_name or "://" not in var.declared:
            continue
        for ref in var.references:
            target = ctx.stack.env.get(ref)
            if target and target.secret_name and not URL_SAFE_RE.match(target.value):
                found.append(ctx.finding(name, Outcome.FAILED, var.path,
                                         f"secret {target.secret_name} (in {var.key}) has characters that break URLs (@ : / ? # % ...)",
                                         "use letters, digits and -._~ only (mooring generates such secrets)"))
    return found
