"""Rules on the API: migrations and health declared, dev/ops endpoints delivered as declared, CORS credentials."""

from __future__ import annotations



from mooring.checks.findings import Finding, Outcome
from mooring.checks.registry import RuleContext, rule
from mooring.checks.rules.common import _truthy, receive_fix
from mooring.declare.model import Stack


@rule("migration.declared")
def migration_declared(ctx: RuleContext, name: str) -> list[Finding]:
    """An app on a database declares its migration (seed 003: tables missing after deploy)."""
    stack = ctx.stack
    if stack.migration or not (stack.service_with_role("postgres") and stack.service_with_role("app")):
        return []
    return [ctx.finding(name, Outcome.WARNING, "stack.migration", "no migration is declared: the schema is never upgraded on deploy",
                        "declare it, e.g. migration: {service: api, command: [alembic, upgrade, head]}")]


@rule("health.declared")
def health_declared(ctx: RuleContext, name: str) -> list[Finding]:
    """At least one health probe, so a deploy can tell success from failure."""
    if ctx.stack.health:
        return []
    return [ctx.finding(name, Outcome.WARNING, "stack.health", "no health probe is declared: a deploy cannot verify itself",
                        "add e.g. - {name: ready, path: /api/v1/health/ready}")]


@rule("endpoints.delivered")
def endpoints_delivered(ctx: RuleContext, name: str) -> list[Finding]:
    """Declared endpoint toggles and CORS settings reach a service (else the app uses its own default)."""
    stack = ctx.stack
    received = {key for s in stack.services.values() for key in [*s.env_keys, *s.environment]}
    found = []
    pairs = [(f"stack.endpoints.{g.name}", key) for g in stack.endpoints.values() for key in (g.enabled_env, g.whitelist_env)]
    if stack.cors:
        pairs += [("stack.cors", stack.cors.origins_env), ("stack.cors", stack.cors.credentials_env)]
    for path, key in pairs:
        if key not in received:
            app = stack.proxy.upstream or "api"
            found.append(ctx.finding(name, Outcome.FAILED, path, f"no service receives {key}, so this setting has no effect",
                                     receive_fix(stack, app, key)))
    return found


@rule("cors.credentials")
def cors_credentials(ctx: RuleContext, name: str) -> list[Finding]:
    """CORS never combines origin '*' with credentials (browsers refuse it; it would expose sessions)."""
    found = []
    for path, origins, credentials in _cors_settings(ctx.stack):
        if "*" in origins and credentials:
            found.append(ctx.finding(name, Outcome.FAILED, path, "allowed origin '*' together with credentials",
                                     "list the real front-end origins, e.g. [https://app.example.com]"))
    return found


def _cors_settings(stack: Stack) -> list[tuple[str, list[str], bool]]:
    """(path, origins, credentials) from the cors block and from any other *CORS*ORIGIN* env key."""
    settings = []
    generated = set()
    if stack.cors:
        settings.append(("stack.cors.allowed_origins", stack.cors.allowed_origins, stack.cors.allow_credentials))
        generated = {stack.cors.origins_env, stack.cors.credentials_env}
    for var in stack.env.values():
        if var.key in generated or not ("CORS" in var.key.upper() and "ORIGIN" in var.key.upper()) or var.secret:
            continue
        credentials_key = next((k for k in stack.env if "CORS" in k.upper() and "CREDENTIAL" in k.upper()), None)
        credentials = _truthy(stack.env[credentials_key].value) if credentials_key else True
        settings.append((var.path, [o.strip() for o in var.value.split(",") if o.strip()], credentials))
    return settings
