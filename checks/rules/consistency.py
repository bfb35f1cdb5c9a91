"""Rules that cross-check env values: DATABASE_URL and REDIS_URL against their services, the DB healthcheck."""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from mooring.checks.findings import Finding, Outcome
from mooring.checks.registry import RuleContext, rule
from mooring.checks.rules.common import _service_path, _url_parts, receive_fix, receives
from mooring.declare.model import MASK, EnvVar, Service, Stack


@rule("consistency.database_url")
def database_url_matches_db(ctx: RuleContext, name: str) -> list[Finding]:
    """DATABASE_URL's host, port, user, password and database agree with the postgres service
    (for a team's compose files: each service's DATABASE_URL with the database's environment)."""
    stack = ctx.stack
    db = stack.service_with_role("postgres")
    if db is None:
        return []
    if stack.compose:
        db_env = functools.partial(_compose_env, stack, db)
        urls = [_compose_env(stack, s, "DATABASE_URL") for s in stack.services.values() if "DATABASE_URL" in s.environment]
    else:
        db_env, urls = stack.env.get, [stack.env.get("DATABASE_URL")]
    return [f for var in urls if var is not None for f in _database_url_findings(ctx, name, var, db, db_env)]


def _compose_env(stack: Stack, service: Service, key: str) -> EnvVar | None:
    """``key`` of a compose service's environment as an :class:`EnvVar` (secret values masked)."""
    value = service.environment.get(key)
    if value is None:
        return None
    masked = _secrets_masked(stack, value)
    return EnvVar(key, value, masked != value, f"{service.path}.environment.{key}", masked=masked)


def _secrets_masked(stack: Stack, text: str) -> str:
    """``text`` with the stack's secret values as ``***``, longest first: the secrets themselves,
    not values built from them (DATABASE_URL would mask whole)."""
    for secret in sorted({v.value for v in stack.env.values() if v.secret_name and v.value}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def _database_url_findings(ctx: RuleContext, name: str, var: EnvVar, db: Service, env_of) -> list[Finding]:
    parts, why = _url_parts(var)
    if parts is None:
        return [ctx.finding(name, Outcome.FAILED, var.path, f"DATABASE_URL is {why}",
                            "write postgresql://USER:PASSWORD@HOST:5432/DBNAME")]
    found = []
    expected_db = env_of("POSTGRES_DB") or env_of("POSTGRES_USER")
    checks = [
        (parts.scheme.split("+")[0] in ("postgres", "postgresql"), f"scheme {parts.scheme!r} is not postgresql", "start it with postgresql://"),
        (parts.hostname == db.name, f"host {parts.hostname!r} is not the database service {db.name!r}",
         f"use @{db.name}:5432 (services reach each other by service name)"),
        (parts.port in (None, 5432), f"port {parts.port} is not the postgres port 5432", "use :5432 (the port inside the network)"),
    ]
    user = env_of("POSTGRES_USER")
    if user is not None:
        checks.append((_same(parts.username, user, var, "username"),
                       f"user {_show(parts.username)} is not POSTGRES_USER {_show(user.masked)}", "use ${POSTGRES_USER} in the URL"))
    password = env_of("POSTGRES_PASSWORD")
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
    """The postgres service receives POSTGRES_DB, POSTGRES_USER and POSTGRES_PASSWORD (each may
    come as ``<KEY>_FILE``, a file the official image reads it from)."""
    found = []
    for db in ctx.stack.services_with_role("postgres"):
        for key in ("POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD"):
            if not receives(db, key) and not receives(db, f"{key}_FILE"):
                found.append(ctx.finding(name, Outcome.FAILED, _service_path(db, "required_env"),
                                         f"service {db.name} does not receive {key}"
                                         + (": the image would create a database named after the user" if key == "POSTGRES_DB" else ""),
                                         receive_fix(ctx.stack, db.name, key, "required_env")))
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
        words = _words(_healthcheck_as_written(db))
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
                declared = ("undeclared" if key not in env else "a secret" if env[key].secret else repr(env[key].value))
                found.append(ctx.finding(name, Outcome.FAILED, path,
                                         f"the healthcheck uses {flag} {_show(_secrets_masked(ctx.stack, arg))} but {key} is {declared}",
                                         f'use {flag} "${{{key}}}" so both always agree'))
    return found


def _healthcheck_as_written(service: Service) -> list[str]:
    """The healthcheck test in the words its file writes: a team's compose file is read through
    Compose, whose test holds the values (a secret's among them), not the ``${KEY}``. A test
    written as one string is a shell command, as Compose reads it."""
    written = service.written.get("healthcheck.test")
    if not written:
        return service.healthcheck.test
    return ["CMD-SHELL", written[0]] if len(written) == 1 else written


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
