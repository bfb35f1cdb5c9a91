"""Production gates: real secrets, debug off, CORS closed, dev/ops endpoints off, images pinned."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from mooring.checks.findings import Finding, Outcome
from mooring.checks.registry import PRODUCTION, RuleContext, rule
from mooring.checks.rules.app import _cors_settings
from mooring.checks.rules.common import MIN_SECRET_LENGTH, _service_path, _truthy, is_dev_default
from mooring.declare.secrets import env_var_name, secrets_file


@rule("production.secrets")
def production_secrets(ctx: RuleContext, name: str) -> list[Finding]:
    """Production secrets are not dev defaults and have at least 16 characters (staging: warnings)."""
    if ctx.model.environment not in (PRODUCTION, "staging"):
        return []
    outcome = Outcome.FAILED if ctx.production else Outcome.WARNING
    found = []
    for var in ctx.stack.env.values():
        if not var.secret_name:
            continue
        fix = f"set a strong random value ({MIN_SECRET_LENGTH}+ characters) in {env_var_name(var.secret_name)} or {secrets_file(ctx.model.environment)}"
        if is_dev_default(var.value):
            found.append(ctx.finding(name, outcome, var.path, f"secret {var.secret_name} is a well-known development default", fix))
        elif len(var.value) < MIN_SECRET_LENGTH:
            found.append(ctx.finding(name, outcome, var.path,
                                     f"secret {var.secret_name} is shorter than {MIN_SECRET_LENGTH} characters", fix))
    return found


#: Environments whose secrets may be made up by the controller that deploys them.
GENERATED_SECRETS_OK = frozenset({"sandbox"})


@rule("production.no_generated_secrets")
def production_no_generated_secrets(ctx: RuleContext, name: str) -> list[Finding]:
    """Secrets are generated only in the sandbox (elsewhere: a warning; production: refused).

    In production the model refuses ``secrets_generate_missing`` before any secret is read
    (``mooring.declare.model.build_stack``: generation would write the secrets file), so this rule
    reports the other shared environments (staging, ...): secrets made up on one controller
    differ from another controller's, and nobody holds a copy. Its FAILED branch stays as a
    second line should the model ever let production through.
    """
    stack = ctx.stack
    if not stack.secrets_generate_missing or ctx.model.environment in GENERATED_SECRETS_OK:
        return []
    if ctx.production:
        return [ctx.finding(name, Outcome.FAILED, "stack.secrets_generate_missing", "secret generation is on in production",
                            "remove secrets_generate_missing (sandbox only) and provide the secrets")]
    return [ctx.finding(name, Outcome.WARNING, "stack.secrets_generate_missing",
                        f"secret generation is on in {ctx.model.environment}: missing secrets are made up on this "
                        f"controller only (in {secrets_file(ctx.model.environment)}), another controller would "
                        "generate different ones",
                        "provide the secrets (MOORING_SECRET_<NAME> or the secrets file) and remove "
                        "secrets_generate_missing")]


@rule("production.debug_off")
def production_debug_off(ctx: RuleContext, name: str) -> list[Finding]:
    """No DEBUG flag and no development mode in production."""
    if not ctx.production:
        return []
    found = []
    for var in ctx.stack.env.values():
        key = var.key.upper()
        if (key == "DEBUG" or key.endswith("_DEBUG")) and _truthy(var.value):
            found.append(ctx.finding(name, Outcome.FAILED, var.path, f"{var.key} is on in production", f"set {var.key}: false"))
        elif key in ("ENV", "APP_ENV", "ENVIRONMENT", "NODE_ENV", "FLASK_ENV", "PYTHON_ENV") and \
                var.value.strip().lower() in ("dev", "development", "debug", "local"):
            found.append(ctx.finding(name, Outcome.FAILED, var.path, f"{var.key} names a development mode in production",
                                     f"set {var.key}: production"))
    return found


@rule("production.cors")
def production_cors(ctx: RuleContext, name: str) -> list[Finding]:
    """No localhost origins in production CORS (seed 000's dev setup must not ship)."""
    if not ctx.production:
        return []
    found = []
    for path, origins, _credentials in _cors_settings(ctx.stack):
        for origin in origins:
            host = urlsplit(origin).hostname or "" if origin != "*" else ""
            if host == "localhost" or host.endswith(".localhost") or _is_loopback(host):
                found.append(ctx.finding(name, Outcome.FAILED, path, f"origin {origin!r} is a local address in production",
                                         "list only the production front-end origins"))
    return found


def _is_loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


@rule("production.endpoints")
def production_endpoints(ctx: RuleContext, name: str) -> list[Finding]:
    """Dev/operational endpoints are off in production unless a whitelist is declared (seed 002)."""
    if not ctx.production:
        return []
    found = []
    for gate in ctx.stack.endpoints.values():
        if gate.enabled and not gate.whitelist:
            found.append(ctx.finding(name, Outcome.FAILED, f"stack.endpoints.{gate.name}.enabled",
                                     f"{gate.name} endpoints are on in production without a whitelist",
                                     f"set enabled: false, or declare stack.endpoints.{gate.name}.whitelist (CIDRs)"))
    for var in ctx.stack.env.values():
        if var.key.endswith("_ENDPOINTS_ENABLED") and var.path.startswith("stack.env.") and _truthy(var.value):
            found.append(ctx.finding(name, Outcome.FAILED, var.path, f"{var.key} is switched on directly in env",
                                     "declare the toggle and its whitelist under stack.endpoints instead"))
    return found


@rule("production.images_pinned")
def production_images_pinned(ctx: RuleContext, name: str) -> list[Finding]:
    """Images carry an explicit tag other than latest (production: required; elsewhere: warning)."""
    outcome = Outcome.FAILED if ctx.production else Outcome.WARNING
    found = []
    for service in ctx.stack.services.values():
        ref = service.image.split("@")[0]
        last = ref.rsplit("/", 1)[-1]
        tag = last.split(":", 1)[1] if ":" in last else None
        if "@sha256:" in service.image:
            continue
        if tag in (None, "latest"):
            found.append(ctx.finding(name, outcome, _service_path(service, "image"),
                                     f"image {service.image!r} is not pinned to a version", "use an explicit tag, e.g. :1.4.2"))
    return found
