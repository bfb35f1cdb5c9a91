"""cerberus schemas for every block of the declared state, and their error reporting.

Blocks register themselves in :data:`BLOCKS` (duplicates are refused). A layer file may set any
subset of keys (the others come from other layers); the merged data is then checked with the
required keys on. Unknown keys are errors everywhere: most are typos.

Blocks: ``environment``, ``bootstrap`` (bare box → docker host) and ``stack`` (the compose
backend: services, env, migration, proxy, probes, endpoint toggles, CORS, backups). See
``docs/declared-state.md`` for every key with an example.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import ipaddress
import pickle
import re
import threading
from typing import Any, Callable

from cerberus import Validator, errors
from cerberus.errors import ValidationError

from mooring.declare.errors import ConfigError, ConfigProblem
from mooring.declare.secrets import looks_secret

BLOCKS: dict[str, dict[str, Any]] = {}

#: Keys whose values are never echoed back in messages: see :func:`mooring.declare.secrets.looks_secret`.
#: Every value under ``stack.env.`` is hidden too, whatever its key.
ENV_PREFIX = "stack.env."

NAME_RE = r"^[a-z_][a-z0-9_-]{0,31}$"
# Absolute, no `..`, and only characters that need no shell quoting (paths reach shell commands).
ABS_PATH_RE = r"^/(?!.*(^|/)\.\.(/|$))[A-Za-z0-9._/@+-]*$"
STACK_NAME_RE = r"^[a-z][a-z0-9_-]{0,31}$"
SERVICE_NAME_RE = r"^[a-z0-9][a-z0-9_-]{0,62}$"
ENV_NAME_RE = r"^[A-Za-z_][A-Za-z0-9_]*$"
SECRET_NAME_RE = r"^[A-Z][A-Z0-9_]{0,63}$"
VOLUME_NAME_RE = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
DB_NAME_RE = r"^([A-Za-z_][A-Za-z0-9_]{0,62}|\$\{[A-Za-z_][A-Za-z0-9_]*\})$"
OWNER_RE = r"^([a-z_][a-z0-9_-]{0,31}|[0-9]{1,10})$"
MODE_RE = r"^0?[0-7]{3}$"
ONE_LINE_RE = r"^[^\n\r\x00]+$"  # one line of shell, nothing that could end it early
DURATION_RE = r"^([0-9]+(\.[0-9]+)?(us|ms|s|m|h))+$"
TEMPLATE_RE = r"^[a-z0-9_-]+(/[a-z0-9_-]+)*/?[a-z0-9_.-]*\.j2$"
URL_PATH_RE = r"^/[^\s]*$"
#: A file of the project: relative, no ``..`` segment.
REL_FILE_RE = r"^(?!/)(?!.*(^|/)\.\.(/|$))[A-Za-z0-9._/@+-]+$"
REL_MOUNT_RE = r"^\./(?!.*(^|/)\.\.(/|$))[A-Za-z0-9._/@+-]*$"
PROFILE_RE = r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$"
#: An image reference: [registry[:port]/]path[:tag][@sha256:digest].
IMAGE_RE = (r"^([a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?/)?[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*"
            r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$")
#: Where HTTP probes run: ``controller`` (where mooring runs, over HTTP) or ``host`` (on the host
#: itself over the SSH connection, against its own addresses).
PROBES_FROM = ("controller", "host")
#: Where ``${STACK_DIR}`` in a mount source points: ``<bootstrap.base_dir>/<stack.name>``.
STACK_DIR_VAR = "${STACK_DIR}"


class Problem(str):
    """A check_with message that carries its own fix (cerberus keeps the object in ``info``)."""

    fix: str = ""


def problem(message: str, fix: str) -> Problem:
    """A message with a fix, for check_with callables: ``error(field, problem("bad", "do x"))``."""
    text = Problem(message)
    text.fix = fix
    return text


def register_block(name: str, schema: dict[str, Any]) -> None:
    """Register the schema of one top-level block; a second registration of a name is an error."""
    if name in BLOCKS:
        raise ValueError(f"schema block {name!r} is already registered")
    BLOCKS[name] = schema


register_block("environment", {
    "type": "string", "regex": NAME_RE,
    "meta": {"fix": "name the environment, e.g. production, staging or sandbox"},
})

register_block("bootstrap", {
    "type": "dict",
    "schema": {
        "docker_source": {"type": "string", "allowed": ["debian", "docker-apt"], "default": "debian"},
        "compose_v1": {"type": "string", "allowed": ["remove", "refuse"], "default": "remove"},
        "timezone": {"type": "string", "regex": r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$", "default": "UTC"},
        "deploy_user": {"type": "string", "regex": NAME_RE, "default": "deploy"},
        "authorized_keys": {
            "type": "list", "default": [],
            "schema": {"type": "string", "regex": r"^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp(256|384|521)|sk-\S+) [A-Za-z0-9+/=]+( .*)?$",
                       "meta": {"fix": "paste one public key line, e.g. `ssh-ed25519 AAAA... user@host`"}},
        },
        "authorized_key_files": {
            "type": "list", "default": [],
            "schema": {"type": "string", "empty": False,
                       "meta": {"fix": "a public key file path, relative to the project root or absolute"}},
        },
        # An empty key list empties the deploy user's authorized_keys: refused unless declared.
        "allow_no_keys": {"type": "boolean", "default": False,
                          "meta": {"fix": "true only if nobody should log in as the deploy user"}},
        "base_dir": {"type": "string", "regex": ABS_PATH_RE, "default": "/srv/mooring",
                     "meta": {"fix": "an absolute path without `..`, e.g. /srv/mooring"}},
        "backup_dir": {"type": "string", "regex": ABS_PATH_RE, "default": "/var/backups/mooring",
                       "meta": {"fix": "an absolute path without `..`, e.g. /var/backups/mooring"}},
    },
})


# --- check_with callables (each reports a message and a fix) -------------------------------

def check_mount_source(field: str, value: Any, error: Callable) -> None:
    """A mount source is a named volume, an absolute host path or ``${STACK_DIR}[/...]``; never relative or ``..``."""
    if not isinstance(value, str) or (re.match(VOLUME_NAME_RE, value) and not value.startswith(".")):
        return
    path = value
    if value == STACK_DIR_VAR or value.startswith(STACK_DIR_VAR + "/"):
        path = "/stack-dir" + value[len(STACK_DIR_VAR):]
    if not path.startswith("/"):
        error(field, problem(f"{value!r} is a relative path (compose would resolve it against its working directory)",
                             "use an absolute host path, `${STACK_DIR}/...` or a named volume such as `pgdata`"))
    elif re.search(r"(^|/)\.\.(/|$)", path):
        error(field, problem(f"{value!r} contains `..`", "write the path without `..` segments"))
    elif "//" in path or re.search(r"[\s$'\"\\]", path):
        error(field, problem(f"{value!r} has empty segments, spaces, quotes or `$` in it",
                             "use a plain absolute path such as /srv/mooring/solacore/nginx/conf.d"))


PORT_STRING_RE = re.compile(r"^(?:(?P<ip>\[[0-9a-fA-F:.]+\]|[0-9.]+):)?(?P<published>[0-9]+):(?P<target>[0-9]+)(?:/(?P<proto>tcp|udp))?$")


def check_port(field: str, value: Any, error: Callable) -> None:
    """A published port: ``"HOST:CONTAINER[/proto]"``, ``"IP:HOST:CONTAINER"`` or a mapping."""
    if isinstance(value, dict):
        return
    if not isinstance(value, str):
        return
    match = PORT_STRING_RE.match(value)
    fix = 'write "8080:80", "127.0.0.1:9090:9090" or {published: 8080, target: 80}'
    if not match:
        error(field, problem(f"{value!r} is not a port mapping", fix))
        return
    for part in ("published", "target"):
        number = int(match.group(part))
        if not 1 <= number <= 65535:
            error(field, problem(f"{value!r}: {part} port {number} is outside 1-65535", fix))
            return
    if match.group("ip"):
        check_ip(field, match.group("ip").strip("[]"), error)


def check_ip(field: str, value: Any, error: Callable) -> None:
    """An IPv4 or IPv6 address (a port's ``host_ip``)."""
    if not isinstance(value, str) or value == "":
        return
    try:
        ipaddress.ip_address(value)
    except ValueError:
        error(field, problem(f"{value!r} is not an IP address", "write e.g. 127.0.0.1 or 0.0.0.0"))


def check_cidr(field: str, value: Any, error: Callable) -> None:
    """A whitelist entry: an IP address or CIDR network (the API reads them with ipaddress)."""
    if not isinstance(value, str):
        return
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        error(field, problem(f"{value!r} is not an IP address or CIDR", "write e.g. 10.0.0.0/8 or 127.0.0.1/32"))


def check_origin(field: str, value: Any, error: Callable) -> None:
    """A CORS origin: ``*`` or ``scheme://host[:port]`` without a path."""
    if not isinstance(value, str) or value == "*":
        return
    if not re.match(r"^https?://[A-Za-z0-9.\-\[\]:]+(:[0-9]{1,5})?$", value):
        error(field, problem(f"{value!r} is not an origin", "write scheme://host[:port] without a path, e.g. https://app.example.com"))


def check_env_value(field: str, value: Any, error: Callable) -> None:
    """An env value is a scalar, ``{secret: NAME}`` or ``{value: TEXT, multiline: true}`` (either
    mapping may add ``allow_empty: true``); never a float
    (``1.10`` would reach the container as ``1.1``)."""
    if isinstance(value, float):
        error(field, problem("a decimal number is read as a float and may change (1.10 becomes 1.1)",
                             'quote it, e.g. "1.10"'))
        return
    if not isinstance(value, dict):
        return
    if ("secret" in value) == ("value" in value):
        error(field, problem("a mapping value needs exactly one of `secret:` or `value:`",
                             "write `{secret: NAME}` for a secret, or `{value: TEXT, multiline: true}`"))
    elif "multiline" in value and "secret" in value:
        error(field, problem("`multiline:` applies to `value:` only", "remove `multiline:` (secrets may always be multi-line)"))


def check_cron(field: str, value: Any, error: Callable) -> None:
    """A crontab schedule (5 fields or a macro such as @daily)."""
    from mooring.declare.cron import cron_problem

    if isinstance(value, str):
        why = cron_problem(value)
        if why:
            error(field, problem(f"{value!r} is not a valid cron schedule: {why}",
                                 'write five fields "minute hour day month weekday", e.g. "0 2 * * *" (02:00 daily)'))


# --- the stack block -------------------------------------------------------------------------

def _string_list(regex: str | None = None, fix: str = "", **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "string", "empty": False}
    if regex:
        item["regex"] = regex
    if fix:
        item["meta"] = {"fix": fix}
    return {"type": "list", "default": [], "schema": item, **extra}


ENV_KEY_LIST_FIX = "list env key names declared in stack.env, e.g. [DATABASE_URL, REDIS_URL]"

HEALTHCHECK = {
    "type": "dict", "nullable": True, "default": None,
    "schema": {
        "test": {"type": "list", "required": True, "minlength": 1,
                 "schema": {"type": "string", "empty": False},
                 "meta": {"fix": 'write e.g. [CMD, pg_isready, -U, "${POSTGRES_USER}", -d, "${POSTGRES_DB}"]'}},
        "interval": {"type": "string", "regex": DURATION_RE, "default": "10s", "meta": {"fix": "a duration such as 10s or 1m30s"}},
        "timeout": {"type": "string", "regex": DURATION_RE, "default": "5s", "meta": {"fix": "a duration such as 5s"}},
        "retries": {"type": "integer", "min": 1, "max": 100, "default": 5},
        "start_period": {"type": "string", "regex": DURATION_RE, "default": "10s", "meta": {"fix": "a duration such as 30s"}},
    },
}

MOUNT = {
    "type": "dict",
    "schema": {
        "source": {"type": "string", "required": True, "empty": False, "check_with": check_mount_source},
        "target": {"type": "string", "required": True, "regex": ABS_PATH_RE,
                   "meta": {"fix": "the absolute path inside the container, without `..`"}},
        "read_only": {"type": "boolean", "default": False},
        "owner": {"type": "string", "regex": OWNER_RE, "nullable": True, "default": None,
                  "meta": {"fix": "a user name or numeric uid on the host, e.g. root or 101"}},
        "group": {"type": "string", "regex": OWNER_RE, "nullable": True, "default": None,
                  "meta": {"fix": "a group name or numeric gid on the host, e.g. root"}},
        "mode": {"type": "string", "regex": MODE_RE, "nullable": True, "default": None,
                 "meta": {"fix": 'quote an octal mode, e.g. mode: "0644" (unquoted 0644 is read as a number)'}},
        "kind": {"type": "string", "allowed": ["file", "dir"], "nullable": True, "default": None},
        "template": {"type": "string", "regex": TEMPLATE_RE, "nullable": True, "default": None,
                     "meta": {"fix": "a template path under templates/, e.g. nginx/default.conf.j2"}},
    },
}

PORT = {
    "type": ["string", "dict"], "check_with": check_port,
    "schema": {
        "published": {"type": "integer", "required": True, "min": 1, "max": 65535},
        "target": {"type": "integer", "required": True, "min": 1, "max": 65535},
        "host_ip": {"type": "string", "default": "", "check_with": check_ip},
        "protocol": {"type": "string", "allowed": ["tcp", "udp"], "default": "tcp"},
    },
    "meta": {"fix": 'write "8080:80", "127.0.0.1:9090:9090" or {published: 8080, target: 80}'},
}

SERVICE = {
    "type": "dict",
    "schema": {
        "enabled": {"type": "boolean", "default": True},
        "role": {"type": "string", "allowed": ["app", "postgres", "mysql", "redis", "proxy", "metrics", "worker", "other"],
                 "default": "other"},
        "image": {"type": "string", "required": True, "regex": IMAGE_RE,
                  "meta": {"fix": "an image reference such as registry.example.com/solacore/api:1.4.2 or postgres:15"}},
        "image_source": {"type": "string", "allowed": ["registry", "ship"], "default": "registry"},
        "command": {"type": "list", "nullable": True, "default": None, "minlength": 1,
                    "schema": {"type": "string"}, "meta": {"fix": "a list of arguments, e.g. [python3, -m, app, serve]"}},
        "env": _string_list(ENV_NAME_RE, ENV_KEY_LIST_FIX),
        "required_env": _string_list(ENV_NAME_RE, ENV_KEY_LIST_FIX),
        "ports": {"type": "list", "default": [], "schema": PORT},
        "volumes": {"type": "list", "default": [], "schema": MOUNT},
        "healthcheck": HEALTHCHECK,
        "depends_on": {
            "type": "dict", "default": {},
            "keysrules": {"type": "string", "regex": SERVICE_NAME_RE},
            "valuesrules": {"type": "string",
                            "allowed": ["service_started", "service_healthy", "service_completed_successfully"]},
        },
        "restart": {"type": "string", "allowed": ["no", "always", "on-failure", "unless-stopped"], "default": "unless-stopped",
                    "meta": {"fix": 'quote it: restart: "no" (unquoted no is read as false)'}},
        "metrics": {
            "type": "dict", "nullable": True, "default": None,
            "schema": {"path": {"type": "string", "regex": URL_PATH_RE, "default": "/metrics"},
                       "port": {"type": "integer", "required": True, "min": 1, "max": 65535}},
        },
    },
}

#: What mooring adds to a service of the team's compose files (Compose knows the rest).
COMPOSE_SERVICE = {
    "type": "dict",
    "schema": {
        # No default: the model reads the role from the image (postgres, mariadb, redis, nginx, ...).
        "role": {key: value for key, value in SERVICE["schema"]["role"].items() if key != "default"},
        "image_source": SERVICE["schema"]["image_source"],
        "required_env": {**_string_list(ENV_NAME_RE, ENV_KEY_LIST_FIX),
                         "meta": {"fix": "the variables this service's environment must get non-empty, e.g. "
                                         "[DATABASE_URL]"}},
        "metrics": SERVICE["schema"]["metrics"],
    },
}

#: The team's compose files as the source of the stack's services (docs/compose-files.md).
COMPOSE_SOURCE = {
    "type": "dict", "nullable": True, "default": None,
    "schema": {
        "files": {"type": "list", "required": True, "minlength": 1,
                  "schema": {"type": "string", "regex": REL_FILE_RE},
                  "meta": {"fix": "the compose files relative to the project folder, in -f order, e.g. "
                                  "[compose/docker-compose.yml, compose/docker-compose.ops.yml]"}},
        "profiles": _string_list(PROFILE_RE, "Compose profile names, e.g. [ops]"),
        "services": {
            "type": "dict", "empty": False,
            "keysrules": {"type": "string", "regex": SERVICE_NAME_RE,
                          "meta": {"fix": "a service name of the compose files"}},
            "valuesrules": COMPOSE_SERVICE,
        },
        # A Compose secret with a `file:` source → the stack env key whose value mooring writes
        # there on the host (never a file in the repo).
        "secrets": {
            "type": "dict", "default": {},
            "keysrules": {"type": "string", "regex": r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                          "meta": {"fix": "a secret name of the compose files' top-level `secrets:`"}},
            "valuesrules": {"type": "string", "regex": ENV_NAME_RE,
                            "meta": {"fix": "the stack env key that holds the value, e.g. POSTGRES_PASSWORD "
                                            "(declared as `{secret: POSTGRES_PASSWORD}`)"}},
        },
        # Owner and mode of a relative bind mount's source (./config) on the host.
        "mounts": {
            "type": "dict", "default": {},
            "keysrules": {"type": "string", "regex": REL_MOUNT_RE,
                          "meta": {"fix": "a relative bind mount source as the compose file writes it, e.g. ./config"}},
            "valuesrules": {"type": "dict", "schema": {
                "owner": MOUNT["schema"]["owner"], "group": MOUNT["schema"]["group"], "mode": MOUNT["schema"]["mode"]}},
        },
    },
}

ENV_VALUE = {
    "type": ["string", "integer", "float", "boolean", "dict"], "check_with": check_env_value,
    "schema": {
        "secret": {"type": "string", "regex": SECRET_NAME_RE,
                   "meta": {"fix": "a secret name in capitals, e.g. POSTGRES_PASSWORD"}},
        "value": {"type": "string"},
        "multiline": {"type": "boolean"},
        # Compose delivers an empty value as set-but-empty; mooring refuses one unless declared so.
        "allow_empty": {"type": "boolean"},
    },
    "meta": {"fix": "write a string, a number, true/false or {secret: NAME}"},
}


def _probe(retries: int) -> dict[str, Any]:
    return {
        "type": "dict",
        "schema": {
            "name": {"type": "string", "required": True, "regex": NAME_RE},
            "path": {"type": "string", "required": True, "regex": URL_PATH_RE,
                     "meta": {"fix": "an URL path starting with /, e.g. /api/v1/health/ready"}},
            "port": {"type": "integer", "min": 1, "max": 65535, "nullable": True, "default": None},
            # The host port this service publishes (``port`` then names its container port); a
            # proxy's upstream that publishes nothing is reached through the proxy. See declare/model.py.
            "service": {"type": "string", "regex": SERVICE_NAME_RE, "nullable": True, "default": None,
                        "meta": {"fix": "the name of a service that publishes a port, e.g. prometheus"}},
            "expected_status": {"type": "integer", "min": 100, "max": 599, "default": 200},
            "timeout": {"type": "number", "min": 0.1, "max": 300, "default": 5},
            "retries": {"type": "integer", "min": 1, "max": 1000, "default": retries},
            "interval": {"type": "number", "min": 0.1, "max": 300, "default": 2},
            "max_latency_ms": {"type": "integer", "min": 1, "nullable": True, "default": None},
            "contains": {"type": "string", "empty": False, "nullable": True, "default": None},
        },
    }


def _gate(name: str) -> dict[str, Any]:
    prefix = name.upper()
    return {
        "type": "dict", "nullable": True, "default": None,
        "schema": {
            "enabled": {"type": "boolean", "default": False},
            "whitelist": {"type": "list", "default": [], "schema": {"type": "string", "check_with": check_cidr}},
            "enabled_env": {"type": "string", "regex": ENV_NAME_RE, "default": f"{prefix}_ENDPOINTS_ENABLED"},
            # An endpoint of the family that `mooring check` asks when it is off (must answer 403/404);
            # no default here: the model fills in the reference API's (mooring.declare.model.ENDPOINT_PROBE_PATHS).
            "probe_path": {"type": "string", "regex": URL_PATH_RE,
                           "meta": {"fix": f"an URL path of one {name} endpoint, e.g. /internal/{name}/echo"}},
            "whitelist_env": {"type": "string", "regex": ENV_NAME_RE, "default": f"{prefix}_ENDPOINTS_WHITELIST"},
        },
    }


register_block("stack", {
    "type": "dict",
    "schema": {
        "name": {"type": "string", "required": True, "regex": STACK_NAME_RE,
                 "meta": {"fix": "the compose project name: lowercase letters, digits, - and _, e.g. solacore"}},
        "releases_keep": {"type": "integer", "min": 2, "max": 100, "default": 5,
                          "meta": {"fix": "keep at least 2 releases: the current one and one to roll back to"}},
        "secrets_generate_missing": {"type": "boolean", "default": False},
        # Declared here, or taken from the team's compose files (``compose``): one of the two.
        "services": {
            "type": "dict", "empty": False,
            "keysrules": {"type": "string", "regex": SERVICE_NAME_RE,
                          "meta": {"fix": "a service name: lowercase letters, digits, - and _"}},
            "valuesrules": SERVICE,
        },
        "compose": COMPOSE_SOURCE,
        "env": {
            "type": "dict", "default": {},
            "keysrules": {"type": "string", "regex": ENV_NAME_RE,
                          "meta": {"fix": "an environment variable name: letters, digits and _, not starting with a digit"}},
            "valuesrules": ENV_VALUE,
        },
        "migration": {
            "type": "dict", "nullable": True, "default": None,
            "schema": {
                "service": {"type": "string", "required": True, "regex": SERVICE_NAME_RE},
                "command": {"type": "list", "required": True, "minlength": 1, "schema": {"type": "string", "empty": False},
                            "meta": {"fix": "the migration's arguments, e.g. [alembic, upgrade, head]"}},
                "down": {"type": "list", "nullable": True, "default": None, "minlength": 1,
                         "schema": {"type": "string", "empty": False},
                         "meta": {"fix": "the command that undoes one release's migrations, run in that release's "
                                         "image only by `mooring rollback --migrate-down`, e.g. [alembic, downgrade, '-1']"}},
            },
        },
        "proxy": {
            "type": "dict", "default": {},
            "schema": {
                "service": {"type": "string", "regex": SERVICE_NAME_RE, "nullable": True, "default": None},
                "upstream": {"type": "string", "regex": SERVICE_NAME_RE, "nullable": True, "default": None},
                "upstream_port": {"type": "integer", "min": 1, "max": 65535, "default": 8000},
                "listen_port": {"type": "integer", "min": 1, "max": 65535, "default": 80},
                "server_name": {"type": "string", "regex": r"^[A-Za-z0-9_.*-]+( [A-Za-z0-9_.*-]+)*$", "default": "_"},
                "client_max_body_size": {"type": "string", "regex": r"^[0-9]+[kKmMgG]?$", "default": "10m"},
            },
        },
        "probes_from": {"type": "string", "allowed": list(PROBES_FROM), "default": "controller"},
        "health": {"type": "list", "default": [], "schema": _probe(30)},
        "smoke": {"type": "list", "default": [], "schema": _probe(1)},
        "endpoints": {"type": "dict", "default": {}, "schema": {"dev": _gate("dev"), "ops": _gate("ops")}},
        "cors": {
            "type": "dict", "nullable": True, "default": None,
            "schema": {
                "allowed_origins": {"type": "list", "default": [], "schema": {"type": "string", "check_with": check_origin}},
                "allow_credentials": {"type": "boolean", "default": True},
                "origins_env": {"type": "string", "regex": ENV_NAME_RE, "default": "BACKEND_CORS_ALLOWED_ORIGINS"},
                "credentials_env": {"type": "string", "regex": ENV_NAME_RE, "default": "BACKEND_CORS_ALLOW_CREDENTIALS"},
            },
        },
        "backups": {
            "type": "dict", "default": {},
            "schema": {
                "enabled": {"type": "boolean", "default": True},
                "schedule": {"type": "string", "default": "0 2 * * *", "check_with": check_cron},
                # The restore drill (mooring backup verify) in cron too, e.g. weekly; none by default.
                "verify_schedule": {"type": "string", "nullable": True, "default": None, "check_with": check_cron},
                # Shell commands run on the host: after each verified dump (the file as $1), and on
                # a failed backup or drill (the reason in $MOORING_BACKUP_FAILURE).
                "copy_command": {"type": "string", "nullable": True, "default": None, "regex": ONE_LINE_RE,
                                 "meta": {"fix": 'one shell line, e.g. rsync -a "$1" backup@vault:/srv/dumps/'}},
                "on_failure": {"type": "string", "nullable": True, "default": None, "regex": ONE_LINE_RE,
                               "meta": {"fix": 'one shell line, e.g. curl -fsS -d "$MOORING_BACKUP_FAILURE" '
                                               'http://alerts.internal/hook'}},
                "retention_days": {"type": "integer", "min": 1, "max": 3650, "default": 30,
                                   "meta": {"fix": "keep backups at least one day, e.g. retention_days: 30"}},
                # Kept whatever their age: a clock jumped ahead never prunes every dump.
                "keep_newest": {"type": "integer", "min": 1, "max": 1000, "default": 7,
                                "meta": {"fix": "keep at least the newest dump, e.g. keep_newest: 7"}},
                "databases": _string_list(DB_NAME_RE, "database names or ${POSTGRES_DB}"),
                "directory": {"type": "string", "regex": ABS_PATH_RE, "nullable": True, "default": None,
                              "meta": {"fix": "an absolute path without `..`, e.g. /var/backups/mooring/solacore"}},
                "service": {"type": "string", "regex": SERVICE_NAME_RE, "nullable": True, "default": None},
                # node_exporter's textfile collector folder (Debian's prometheus-node-exporter).
                "metrics_dir": {"type": "string", "regex": ABS_PATH_RE, "default": "/var/lib/prometheus/node-exporter",
                                "meta": {"fix": "the textfile collector folder, e.g. /var/lib/prometheus/node-exporter"}},
            },
        },
    },
})


# --- layer and merged validation --------------------------------------------------------------

def _optional(schema: dict[str, Any]) -> dict[str, Any]:
    """The same schema with nothing required and no defaults (a layer sets only some keys)."""
    schema = copy.deepcopy(schema)
    _strip(schema)
    return schema


def _strip(rules: Any) -> None:
    if not isinstance(rules, dict):
        return
    rules.pop("required", None)
    rules.pop("default", None)
    for key in ("schema", "valuesrules", "keysrules"):
        sub = rules.get(key)
        if isinstance(sub, dict):
            if all(isinstance(v, dict) for v in sub.values()) and key == "schema" and rules.get("type") == "dict":
                for value in sub.values():
                    _strip(value)
            else:
                _strip(sub)


def layer_schema() -> dict[str, Any]:
    """Schema for one layer file: every block optional."""
    return {name: _optional(schema) for name, schema in BLOCKS.items()}


def merged_schema() -> dict[str, Any]:
    """Schema for a host's merged data: required keys and defaults on."""
    return copy.deepcopy(BLOCKS)


_VALIDATORS = threading.local()  # a validator keeps the document it checks: one per thread
#: digest of a host's merged data → its normalized document (hosts sharing layers share it).
_NORMALIZED: dict[str, dict[str, Any]] = {}
_NORMALIZED_MAX = 256


class WholeValueValidator(Validator):
    """cerberus' Validator with each ``regex`` matched against the whole value.

    cerberus matches with ``re.match`` and a pattern's ``$`` also matches before a final line
    break, so ``name: |`` (a YAML block scalar: ``"solacore\\n"``) passed every pattern.
    """

    def _validate_regex(self, pattern: str, field: str, value: Any) -> None:
        """{'type': 'string'}"""
        if isinstance(value, str) and not re.fullmatch(pattern, value):
            self._error(field, errors.REGEX_MISMATCH)


def _validator(kind: str) -> Validator:
    """One reusable validator per schema kind and thread (building the schema is the slow part)."""
    own = _VALIDATORS.__dict__
    if kind not in own:
        own[kind] = WholeValueValidator(layer_schema() if kind == "layer" else merged_schema(), allow_unknown=False)
    return own[kind]


def validate_layer(data: dict[str, Any], file: str) -> None:
    """Check one layer file; raise ``ConfigError`` naming ``file`` and each dotted key path.

    >>> validate_layer({"stack": {"name": "Bad Name"}}, "group_data/all.yml")
    Traceback (most recent call last):
    mooring.declare.errors.ConfigError: group_data/all.yml: stack.name: 'Bad Name' has the wrong format (fix: ...)
    """
    validator = _validator("layer")
    if not validator.validate(data):
        raise ConfigError(problems_from(validator, data, lambda _path: file))


def normalize_merged(data: dict[str, Any], file_of) -> dict[str, Any]:
    """Validate a host's merged data and return it with defaults filled in.

    ``file_of(dotted_path)`` names the file a key came from.
    """
    try:  # exact: types and key order count (the order of services is the order rendered)
        key = hashlib.sha256(pickle.dumps(data, protocol=5)).hexdigest()
    except (pickle.PicklingError, TypeError, AttributeError, RecursionError):
        key = None  # validated every time
    if key is not None and key in _NORMALIZED:
        return copy.deepcopy(_NORMALIZED[key])
    validator = _validator("merged")
    if not validator.validate(data):
        raise ConfigError(problems_from(validator, data, file_of))
    if key is not None:
        if len(_NORMALIZED) >= _NORMALIZED_MAX:
            _NORMALIZED.clear()
        _NORMALIZED[key] = copy.deepcopy(validator.document)
    return validator.document


def problems_from(validator: Validator, document: dict[str, Any], file_of) -> list[ConfigProblem]:
    """Turn cerberus errors into problems: file, dotted path, message (value unless secret), fix."""
    problems = []
    for error in _leaf_errors(validator._errors):
        path = ".".join("''" if p == "" else str(p) for p in error.document_path)  # an empty key shows as ''
        problems.append(ConfigProblem(file_of(path), path, _message(error, path),
                                      _fix(error, validator.root_schema.schema)))
    return sorted(problems, key=lambda p: (p.file, p.path))


def _leaf_errors(errors) -> list[ValidationError]:
    leaves = []
    for error in errors:
        if error.is_group_error and error.child_errors:
            leaves.extend(_leaf_errors(error.child_errors))
        else:
            leaves.append(error)
    return leaves


def is_secret_path(path: str) -> bool:
    """True when a key path looks like it holds a secret (its value is never shown).

    >>> is_secret_path("stack.env.POSTGRES_PASSWORD"), is_secret_path("stack.env.POSTGRES_DB")
    (True, False)
    """
    return looks_secret(path.rsplit(".", 1)[-1])


def _shown(value: Any, path: str) -> str:
    if path.startswith(ENV_PREFIX) or is_secret_path(path) or any(is_secret_path(part) for part in path.split(".")[-2:-1]):
        return "(value hidden)"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


UNKNOWN_FIELD = 0x03
CUSTOM = 0x00


def _message(error: ValidationError, path: str) -> str:
    rule, constraint, value = error.rule, error.constraint, error.value
    if error.code == CUSTOM and error.info:
        return str(error.info[0])
    if rule is None:
        return "unknown key"
    if rule == "required":
        return "required key is missing"
    if rule == "nullable":
        return "must not be empty (null)"
    if rule == "type":
        wanted = " or ".join(constraint) if isinstance(constraint, list) else constraint
        return f"must be of type {wanted}, got {_type_name(value)} {_shown(value, path)}"
    if rule == "allowed":
        return f"{_shown(value, path)} is not allowed"
    if rule == "regex" and "keysrules" in error.schema_path:  # the key is wrong, not its value
        return f"the key {value!r} has the wrong format"
    if rule == "regex" and _ends_in_line_break(value):
        return f"{_shown(value, path)} ends in a line break (a YAML block scalar `|` keeps one)"
    if rule == "regex":
        return f"{_shown(value, path)} has the wrong format"
    if rule in ("min", "max"):
        return f"{_shown(value, path)} must be {'at least' if rule == 'min' else 'at most'} {constraint}"
    if rule == "empty":
        return "must not be empty"
    if rule in ("minlength", "maxlength"):
        return f"length must be {'at least' if rule == 'minlength' else 'at most'} {constraint}"
    if rule == "check_with":
        return str(error.info[0]) if error.info else f"{_shown(value, path)} is invalid"
    return f"{_shown(value, path)} fails rule {rule}={constraint!r}"


def _ends_in_line_break(value: Any) -> bool:
    return isinstance(value, str) and value.endswith(("\n", "\r"))


def _type_name(value: Any) -> str:
    return {"NoneType": "null", "str": "string", "int": "integer", "bool": "boolean", "dict": "mapping",
            "list": "list", "float": "float"}.get(type(value).__name__, type(value).__name__)


def _fix(error: ValidationError, schema: dict[str, Any]) -> str:
    rule, constraint = error.rule, error.constraint
    if error.code == CUSTOM and error.info:
        return getattr(error.info[0], "fix", "") or "correct the value"
    meta_fix = _meta_fix(error, schema)
    if rule is None:
        return _unknown_key_fix(error, schema)
    if rule == "required":
        return meta_fix or "add this key"
    if rule == "nullable":
        return "give it a value, or remove the key to use the default"
    if rule == "allowed":
        return "use one of: " + ", ".join(map(str, constraint))
    if rule == "type":
        return meta_fix or f"write a {' or '.join(constraint) if isinstance(constraint, list) else constraint}"
    if rule == "regex" and _ends_in_line_break(error.value):
        return "write the value on one line (or `|-` instead of `|`)"
    if rule == "regex" and constraint == ENV_NAME_RE and isinstance(error.value, str):
        renamed = re.sub(r"[^A-Za-z0-9_]", "_", error.value)
        renamed = "_" + renamed if renamed[:1].isdigit() else renamed
        return f"{meta_fix}: rename it, e.g. `{renamed}`" if re.match(ENV_NAME_RE, renamed) else meta_fix
    return meta_fix or "correct the value"


#: Compose keys written where mooring declares the same thing differently: where it goes instead.
_SERVICE_ENV_HINT = ("declare each value once in `stack.env` and list the keys this service receives in "
                     "`stack.services.<name>.env`")
COMPOSE_KEY_HINTS: dict[tuple[str, str], str] = {
    ("service", "environment"): _SERVICE_ENV_HINT,
    ("service", "env_file"): "the stack's .env is written from `stack.env`: " + _SERVICE_ENV_HINT.split(" and ", 1)[1],
    ("service", "secrets"): "declare the value as `stack.env.<KEY>: {secret: NAME}` and list KEY in this service's `env`",
    ("service", "build"): "mooring deploys images, not build contexts: build and tag the image, then write "
                          "`image: NAME:TAG` with `image_source: ship` (shipped from this machine) or `registry`; "
                          "or keep the compose file with its `build:` and name it in `stack.compose.files` "
                          "(docs/compose-files.md)",
    ("service", "container_name"): "remove it: Compose names the container <stack>-<service>-1, and a fixed name "
                                   "stops a release from recreating it; or keep the compose file that sets it and "
                                   "name it in `stack.compose.files` (docs/compose-files.md)",
    ("service", "networks"): "remove it: every service is on the stack's own network and reaches the others by name; "
                             "or keep the compose file with its networks and name it in `stack.compose.files` "
                             "(docs/compose-files.md)",
    ("service", "links"): "remove it: every service reaches the others by service name",
    ("service", "expose"): "remove it: services on the stack's network reach each other's ports; publish one with `ports`",
    ("stack", "secrets"): "declare secrets as `stack.env.<KEY>: {secret: NAME}` (the value comes from "
                          "MOORING_SECRET_NAME or the untracked secrets file)",
    ("stack", "networks"): "remove it: the stack has one network of its own; or keep the compose file with its "
                           "networks and name it in `stack.compose.files` (docs/compose-files.md)",
    ("stack", "version"): "remove it (Compose itself ignores `version`)",
    ("top", "services"): "services go under `stack.services` (mooring's layers are not compose files), or stay "
                         "in your compose file, named in `stack.compose.files` (docs/compose-files.md)",
    ("top", "secrets"): "declare secrets as `stack.env.<KEY>: {secret: NAME}`",
    ("top", "version"): "remove it (Compose itself ignores `version`)",
}


def _compose_hint(path: tuple) -> str | None:
    """Where a Compose key written in a layer goes in mooring, or None."""
    if len(path) == 4 and tuple(path[:2]) == ("stack", "services"):
        level = "service"
    elif len(path) == 2 and path[0] == "stack":
        level = "stack"
    elif len(path) == 1:
        level = "top"
    else:
        return None
    hint = COMPOSE_KEY_HINTS.get((level, str(path[-1])))
    return hint.replace("<name>", str(path[2])) if hint and level == "service" else hint


def _unknown_key_fix(error: ValidationError, schema: dict[str, Any]) -> str:
    """Where a Compose key goes in mooring, else the closest known key (most unknown keys are typos)."""
    hint = _compose_hint(tuple(error.document_path))
    if hint:
        return hint
    node = _schema_node(error.schema_path, schema)
    known = list(node.keys()) if isinstance(node, dict) else []
    key = str(error.document_path[-1]) if error.document_path else ""
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return f"did you mean `{close[0]}`? (remove it or correct its spelling)"
    return "remove it or correct its spelling" + (f"; known keys: {', '.join(sorted(known))}" if known and len(known) <= 12 else "")


def _schema_node(schema_path: tuple, schema: dict[str, Any]) -> Any:
    node: Any = schema
    for part in schema_path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _meta_fix(error: ValidationError, schema: dict[str, Any]) -> str:
    """The ``meta.fix`` text of the rule set the error came from, if the schema has one."""
    node = _schema_node(error.schema_path[:-1], schema)
    return node.get("meta", {}).get("fix", "") if isinstance(node, dict) else ""
