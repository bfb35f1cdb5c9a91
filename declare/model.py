"""The typed model of one host's declared state, built from merged, validated YAML layers.

``build_model`` merges and schema-checks the layers and types the ``bootstrap`` block at once;
``HostModel.stack`` is built on first access (it resolves secrets on the controller, which
bootstrap does not need). Both raise ``ConfigError`` naming file, key path and fix.
"""

from __future__ import annotations

import base64
import binascii
import functools
import posixpath
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

from mooring.declare import dumps
from mooring.declare.schema import PORT_STRING_RE, STACK_DIR_VAR, normalize_merged
from mooring.declare.layers import Merged, group_data_dir, layers_for, merge
from mooring.declare.compose_files import ComposeSource, Variable
from mooring.declare import compose_files
from mooring.declare.errors import ConfigError, ConfigProblem
from mooring.declare.interpolation import REFERENCE_RE, Reference, reference
from mooring.declare.paths import project_root, state_dir
from mooring.declare.secrets import SecretRef, resolve_secrets

#: ``${NAME}`` references another stack env key; ``$${`` is a literal ``${``.
MASK = "***"
PRODUCTION = "production"


@dataclass(frozen=True)
class Bootstrap:
    """How a bare Debian box becomes a docker host."""

    docker_source: str
    compose_v1: str
    timezone: str
    deploy_user: str
    authorized_keys: tuple[str, ...]
    base_dir: str
    backup_dir: str
    allow_no_keys: bool = False


@dataclass(frozen=True)
class PortMapping:
    """A published port: ``host_ip`` ("" = every address) : ``published`` → container ``target``."""

    host_ip: str
    published: int
    target: int
    protocol: str = "tcp"

    def __str__(self) -> str:
        ip = f"[{self.host_ip}]" if ":" in self.host_ip else self.host_ip
        return f"{ip + ':' if ip else ''}{self.published}:{self.target}/{self.protocol}"


@dataclass(frozen=True)
class Mount:
    """A named volume (``type`` "volume") or a bind mount (``type`` "bind") of one service.

    For bind mounts ``owner``/``group``/``mode`` are the host path's (read-only sources must
    declare them) and ``kind`` says whether ``source`` is a file or a directory. ``template``
    (a path under ``templates/``) is rendered into ``source`` (kind "file") or into
    ``source/<template file name without .j2>`` (kind "dir"); see :attr:`rendered_path`.
    """

    type: str
    source: str
    target: str
    read_only: bool
    owner: str | None
    group: str | None
    mode: str | None
    kind: str
    template: str | None
    path: str

    @property
    def rendered_path(self) -> str | None:
        """The host file the template is rendered to, or None without a template."""
        if not self.template:
            return None
        if self.kind == "file":
            return self.source
        return posixpath.join(self.source, posixpath.basename(self.template)[: -len(".j2")])


@dataclass(frozen=True)
class Healthcheck:
    """A compose healthcheck; ``test`` starts with CMD or CMD-SHELL."""

    test: list[str]
    interval: str
    timeout: str
    retries: int
    start_period: str


@dataclass(frozen=True)
class Metrics:
    """Where Prometheus scrapes a service (inside the compose network)."""

    path: str
    port: int


@dataclass(frozen=True)
class Service:
    """One compose service as declared.

    ``env_keys`` are the stack env keys it receives (compose lists only these, as
    ``KEY: ${KEY}``); ``required_env`` must be present and non-empty. ``image_source`` is
    "registry" (the host pulls) or "ship" (built/loaded on the controller, ``docker save`` →
    host ``docker load``).
    """

    name: str
    role: str
    image: str
    image_source: str
    command: list[str] | None
    ports: list[PortMapping]
    env_keys: list[str]
    required_env: list[str]
    volumes: list[Mount]
    healthcheck: Healthcheck | None
    depends_on: dict[str, str]
    restart: str
    metrics: Metrics | None
    path: str
    #: The container's environment as Compose resolved it (services of the team's compose files only).
    environment: dict[str, str] = field(default_factory=dict, repr=False)
    #: ``command`` / ``healthcheck.test`` as the team's compose files write them, before Compose
    #: filled in ``${KEY}`` (compose files only: ``command`` above is Compose's interpolated one).
    written: dict[str, list[str]] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class ComposeProject:
    """The team's compose files of a stack, as Compose read them: ``variables`` they use, and the
    relative bind mount sources (``./config``) mooring ships from ``source.project_dir``."""

    source: ComposeSource
    variables: dict[str, Variable]
    relative_mounts: dict[str, Path]
    #: Compose secret name → (its ``file:`` relative to the stack folder, the stack env key written there).
    secret_files: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: Services with a ``build:`` section whose image is shipped: built on the controller first.
    built: tuple[str, ...] = ()


@dataclass(frozen=True)
class EnvVar:
    """One stack env key with its resolved value.

    ``secret`` is True for a ``{secret: NAME}`` value and for any value that embeds one (e.g.
    DATABASE_URL built from ``${POSTGRES_PASSWORD}``). ``masked`` is the value with every
    embedded secret replaced by ``***``: the only form that may appear in a message, and only
    when ``secret`` is False or for structure checks (host, database name).
    """

    key: str
    value: str = field(repr=False)
    secret: bool
    path: str
    secret_name: str | None = None
    multiline: bool = False
    references: tuple[str, ...] = ()
    masked: str = field(default="", repr=False)
    declared: str = field(default="", repr=False)
    allow_empty: bool = False  # declared {value: "", allow_empty: true}: delivered empty on purpose


@dataclass(frozen=True)
class Migration:
    """The schema migration: ``docker compose run --rm <service> <command...>``; ``down`` undoes
    one release's migrations (run only when a rollback asks for it)."""

    service: str
    command: list[str]
    down: list[str] | None = None


@dataclass(frozen=True)
class Probe:
    """An HTTP probe of a host port: ``port`` is the host port asked (the stack's ``http_port``
    unless declared), ``host_ip`` the address it is published on ("" = every address).

    With ``service`` the port is the one that service publishes (a declared ``port`` then names
    the container port, to pick one of several); a proxy's upstream that publishes nothing is
    reached through the proxy (``http_port``). Where the probe runs (the controller or the host
    itself) is the stack's ``probes_from``; see checks/probes.py.
    """

    name: str
    path: str
    port: int | None
    service: str | None
    expected_status: int
    timeout: float
    retries: int
    interval: float
    max_latency_ms: int | None
    contains: str | None
    host_ip: str = ""

    @property
    def url(self) -> str:
        """The URL as the host itself asks it: its loopback address, or the one address the port
        is published on."""
        address = self.host_ip if self.host_ip not in ("", "0.0.0.0", "::") else "127.0.0.1"
        return f"http://{f'[{address}]' if ':' in address else address}:{self.port}{self.path}"


#: The endpoint ``mooring check`` asks per family when it is off (the reference API's).
ENDPOINT_PROBE_PATHS = {"dev": "/internal/dev/echo", "ops": "/internal/ops/info"}


@dataclass(frozen=True)
class EndpointGate:
    """A family of dev/operational endpoints: on/off plus a CIDR whitelist, delivered as env.
    ``probe_path`` is one of its endpoints: off, it must answer 403 or 404."""

    name: str
    enabled: bool
    whitelist: list[str]
    enabled_env: str
    whitelist_env: str
    probe_path: str = ""


@dataclass(frozen=True)
class Cors:
    """The API's CORS settings, delivered as env."""

    allowed_origins: list[str]
    allow_credentials: bool
    origins_env: str
    credentials_env: str


@dataclass(frozen=True)
class Backups:
    """Nightly dump of ``databases`` from ``service`` into ``directory`` (host path) with the
    ``engine``'s own tool (pg_dump, mariadb-dump/mysqldump); dumps older than ``retention_days``
    are pruned, except the ``keep_newest`` newest of each database."""

    enabled: bool
    schedule: str
    retention_days: int
    databases: list[str]
    directory: str
    service: str | None
    keep_newest: int = 7  # per database, kept whatever their age
    metrics_dir: str = "/var/lib/prometheus/node-exporter"  # the job's Prometheus textfile goes here
    verify_schedule: str | None = None  # the restore drill in cron (e.g. weekly), when declared
    copy_command: str | None = None  # run on the host after each verified dump, the file as $1
    on_failure: str | None = None  # run on the host when a backup or drill fails ($MOORING_BACKUP_FAILURE)
    engine: str = "postgres"  # the role of ``service``: postgres or mysql (MySQL and MariaDB)


@dataclass(frozen=True)
class Proxy:
    """nginx in front: which service publishes ``http_port`` and where it forwards."""

    service: str | None
    upstream: str | None
    upstream_port: int
    listen_port: int
    server_name: str
    client_max_body_size: str


@dataclass
class Stack:
    """The compose backend of one host, every value resolved (secrets included: never print them)."""

    name: str
    dir: str
    environment: str
    services: dict[str, Service]
    env: dict[str, EnvVar] = field(repr=False)
    migration: Migration | None
    health: list[Probe]
    smoke: list[Probe]
    endpoints: dict[str, EndpointGate]
    cors: Cors | None
    backups: Backups
    proxy: Proxy
    releases_keep: int
    http_port: int | None
    secrets_generate_missing: bool
    probes_from: str = "controller"
    #: The team's compose files the services come from; None when ``stack.services`` declares them.
    compose: ComposeProject | None = None

    @property
    def compose_file(self) -> str:
        """Absolute path of the compose file on the host."""
        return f"{self.dir}/compose.yml"

    @property
    def env_file(self) -> str:
        """Absolute path of the ``.env`` file on the host (mode 0600, secret)."""
        return f"{self.dir}/.env"

    def services_with_role(self, role: str) -> list[Service]:
        """The services declared with ``role`` (app, postgres, redis, proxy, metrics, worker, other)."""
        return [s for s in self.services.values() if s.role == role]

    def service_with_role(self, role: str) -> Service | None:
        """The first service with ``role``, or None."""
        found = self.services_with_role(role)
        return found[0] if found else None

    def secret_values(self) -> list[str]:
        """Every resolved secret value (for redacting tool output), longest first."""
        values = {v.value for v in self.env.values() if v.secret and v.value}
        return sorted(values, key=len, reverse=True)

    def env_values(self) -> dict[str, str]:
        """KEY → resolved value for the ``.env`` file."""
        return {key: var.value for key, var in self.env.items()}


@dataclass
class HostModel:
    """Everything mooring knows about one host before touching it.

    ``stack`` is None when no ``stack:`` is declared for the host; it is built on first access
    and raises ``ConfigError`` (e.g. a missing secret).
    """

    name: str
    environment: str
    bootstrap: Bootstrap
    merged: Merged = field(repr=False)
    data: dict[str, Any] = field(repr=False, default_factory=dict)
    groups: tuple[str, ...] = ()

    @functools.cached_property
    def stack(self) -> Stack | None:
        """The typed stack (secrets resolved), or None when the host declares none."""
        if not self.data.get("stack"):
            return None
        return build_stack(self.data["stack"], self.environment, self.bootstrap, self.merged)


def build_model(host_name: str, groups: Iterable[str], host_data: dict[str, Any] | None = None,
                group_data: Path | None = None) -> HostModel:
    """Merge, validate and type one host's layers; raise ``ConfigError`` on any problem.

    >>> build_model("docker-1", ["sandbox", "docker_boxes"]).environment  # doctest: +SKIP
    'sandbox'
    """
    groups = tuple(groups)
    merged = merge(layers_for(host_name, groups, host_data, group_data or group_data_dir()))
    data = normalize_merged(merged.data, merged.file_of)
    environment = data.get("environment")
    if not environment:
        raise ConfigError(ConfigProblem(merged.file_of("environment"), "environment", "required key is missing",
                                        f"set `environment:` in the group file of {host_name}"))
    return HostModel(host_name, environment, _bootstrap(data.get("bootstrap") or _defaults("bootstrap"), merged),
                     merged, data, groups)


def host_model(host, first_contact_ok: bool = False) -> HostModel:
    """The model of a pyinfra ``host`` (uses the shims' layers from its host data).

    Its connection settings are checked first (:func:`host_key_problems`): a host whose
    host-key checking is not strict is refused with ``ConfigError``. ``first_contact_ok`` (only
    ``deploy/bootstrap.py`` passes it) lets a host declared ``mooring_first_contact: True``
    through with ``accept-new``.
    """
    data = host.data.dict()
    problems = host_key_problems(host.name, data, first_contact_ok)
    if problems:
        raise ConfigError(problems)
    return build_model(host.name, host.groups, data)


# --- host keys --------------------------------------------------------------------------------
# pyinfra's own default is accept-new: a host key it has never seen (a new box, or a man in the
# middle) is trusted and written to known_hosts. mooring makes strict checking the default of
# every inventory (group_data/all.py sets ssh_strict_host_key_checking = "yes": group data
# applies to every inventory, and a host or group may still override it) and refuses overrides,
# before pyinfra connects (the all.py shim checks the inventory it is loaded for) and again in
# every deploy file (host_model). The one opt-out is a new box's first bootstrap.

STRICT_HOST_KEYS = "yes"
HOST_KEY_SETTING = "ssh_strict_host_key_checking"
FIRST_CONTACT = "mooring_first_contact"
FIRST_CONTACT_CHECKING = "accept-new"
HOST_KEY_FIX = (f"remove the override ({HOST_KEY_SETTING} = {STRICT_HOST_KEYS!r} is mooring's default, from "
                "group_data/all.py) and add the host's key to the inventory's known_hosts file after checking its "
                "fingerprint out of band; for a new box's first bootstrap only, set host data "
                f"{FIRST_CONTACT}: True with {HOST_KEY_SETTING}: {FIRST_CONTACT_CHECKING!r} and ssh_known_hosts_file "
                "(bootstrap records the key there), then remove both")


def host_key_problems(host_name: str, data: dict[str, Any], first_contact_ok: bool = False,
                      where: str = "inventory") -> list[ConfigProblem]:
    """Why ``host_name``'s connection settings (pyinfra host data) would trust an unknown host key.

    Strict (``"yes"``) passes. ``mooring_first_contact: True`` with ``"accept-new"`` and an
    explicit ``ssh_known_hosts_file`` passes only when ``first_contact_ok`` (bootstrap). Anything
    else — unset (pyinfra's default accept-new), ``accept-new``, ``no``, ``off``, ``ask`` — is a
    problem naming the host, the key and the fix.

    >>> host_key_problems("web-1", {"ssh_strict_host_key_checking": "yes"})
    []
    >>> host_key_problems("web-1", {"ssh_strict_host_key_checking": "no"})[0].message
    "host-key checking for web-1 is 'no': an unknown or changed host key would be trusted (man in the middle)"
    """
    value = data.get(HOST_KEY_SETTING)
    path = f"{host_name}.{HOST_KEY_SETTING}"
    if value == STRICT_HOST_KEYS:
        return []
    if data.get(FIRST_CONTACT) is True and value == FIRST_CONTACT_CHECKING:
        if not first_contact_ok:
            return [ConfigProblem(where, f"{host_name}.{FIRST_CONTACT}",
                                  f"{FIRST_CONTACT} is for a new box's first bootstrap only",
                                  f"remove {FIRST_CONTACT} and {HOST_KEY_SETTING} from {host_name}'s data: "
                                  "bootstrap recorded its key in the known_hosts file")]
        if not data.get("ssh_known_hosts_file"):
            return [ConfigProblem(where, f"{host_name}.ssh_known_hosts_file",
                                  f"{FIRST_CONTACT} needs an explicit ssh_known_hosts_file to record the new key in",
                                  "set ssh_known_hosts_file for the host, e.g. ~/.ssh/known_hosts")]
        return []
    shown = "unset (pyinfra's default: 'accept-new')" if value is None else repr(value)
    return [ConfigProblem(where, path, f"host-key checking for {host_name} is {shown}: an unknown or changed host key "
                                       "would be trusted (man in the middle)", HOST_KEY_FIX)]


def check_inventory_host_keys(first_contact_ok: bool = True) -> None:
    """For ``group_data/all.py``: refuse, before pyinfra connects, an inventory whose hosts weaken
    host-key checking (their inventory and group data; the shim's own default is not in yet).

    Runs only inside pyinfra's inventory loading (its context inventory is set); elsewhere it does
    nothing. ``first_contact_ok`` is True here because the deploy file is not known yet: the
    deploy files check again through :func:`host_model` (only bootstrap allows first contact).
    """
    from pyinfra.context import ctx_inventory

    if not ctx_inventory.isset():
        return
    problems: list[ConfigProblem] = []
    for pyinfra_host in ctx_inventory.get():
        data = pyinfra_host.data.dict()
        if HOST_KEY_SETTING not in data:
            continue  # mooring's default ("yes", set by all.py itself) applies
        problems.extend(host_key_problems(pyinfra_host.name, data, first_contact_ok))
    if problems:
        raise ConfigError(problems)


def _defaults(block: str) -> dict[str, Any]:
    from cerberus import Validator

    from mooring.declare.schema import merged_schema

    validator = Validator({block: merged_schema()[block]})
    validator.validate({block: {}})
    return validator.document[block]


def _bootstrap(data: dict[str, Any], merged: Merged) -> Bootstrap:
    problems: list[ConfigProblem] = []
    keys: list[str] = []
    for index, line in enumerate(data["authorized_keys"]):
        path = f"bootstrap.authorized_keys.{index}"
        why = public_key_problem(line)
        if why:
            problems.append(ConfigProblem(merged.file_of(path), path, f"the key {why}", KEY_FIX))
        else:
            keys.append(_key_line(line))
    for index, name in enumerate(data["authorized_key_files"]):
        try:
            keys.extend(_read_key_file(name, f"bootstrap.authorized_key_files.{index}", merged))
        except ConfigError as exc:
            problems.extend(exc.problems)
    allow_no_keys = bool(data.get("allow_no_keys"))
    if not keys and not problems and not allow_no_keys:
        path = "bootstrap.authorized_keys"
        problems.append(ConfigProblem(
            merged.file_of(path), path,
            "no authorized key is declared: bootstrap would empty the deploy user's authorized_keys (lock-out)",
            "list public keys in bootstrap.authorized_keys or bootstrap.authorized_key_files, or declare "
            "bootstrap.allow_no_keys: true if nobody should log in as the deploy user"))
    if problems:
        raise ConfigError(problems)
    return Bootstrap(
        docker_source=data["docker_source"], compose_v1=data["compose_v1"], timezone=data["timezone"],
        deploy_user=data["deploy_user"], authorized_keys=tuple(dict.fromkeys(keys)),
        base_dir=data["base_dir"], backup_dir=data["backup_dir"], allow_no_keys=allow_no_keys,
    )


# --- public keys ---------------------------------------------------------------------------

#: OpenSSH public key types accepted in authorized_keys → how many SSH strings their key data holds.
KEY_TYPES = {
    "ssh-ed25519": 2, "ssh-rsa": 3,
    "ecdsa-sha2-nistp256": 3, "ecdsa-sha2-nistp384": 3, "ecdsa-sha2-nistp521": 3,
    "sk-ssh-ed25519@openssh.com": 3, "sk-ecdsa-sha2-nistp256@openssh.com": 4,
}
KEY_FIX = "use one OpenSSH public key per line, e.g. `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5... user@host` (the .pub file)"
#: Text that only private key files hold (PEM/OpenSSH headers, PuTTY's .ppk).
PRIVATE_MARKERS = ("PRIVATE KEY", "PuTTY-User-Key-File")


def public_key_problem(line: str) -> str:
    """Why ``line`` is not one OpenSSH public key (``TYPE BASE64 [comment]``); "" when it is.

    The type must be a known one, the key data valid base64 whose embedded type equals the
    declared one, made of exactly the fields that type has. The text never quotes the line (a
    private key's text must not reach a message).

    >>> public_key_problem("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk5c3pQ6wq0p8m1TQmS0V8z9yJXo1X3j1n6cQq2vU9a me@x")
    ''
    >>> public_key_problem("-----BEGIN OPENSSH PRIVATE KEY-----")
    'is a private key, not a public one'
    >>> public_key_problem("ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIHk5c3pQ6wq0p8m1TQmS0V8z9yJXo1X3j1n6cQq2vU9a")
    'says ssh-rsa but its key data is of another type'
    """
    if any(marker in line for marker in PRIVATE_MARKERS):
        return "is a private key, not a public one"
    parts = line.split()
    if len(parts) < 2:
        return "is not an OpenSSH public key line (TYPE BASE64 [comment])"
    kind, body = parts[0], parts[1]
    if kind not in KEY_TYPES:
        return "does not start with a known key type (ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521, sk-...)"
    try:
        blob = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        return f"says {kind} but its key data is not base64"
    fields = _ssh_strings(blob)
    if fields is None and _ssh_strings(blob[:4 + len(kind)]) == [kind.encode()]:
        return f"says {kind} but its key data is damaged (truncated or padded)"
    if not fields or fields[0] != kind.encode():
        return f"says {kind} but its key data is of another type"
    if len(fields) != KEY_TYPES[kind] or (kind == "ssh-ed25519" and len(fields[1]) != 32):
        return f"says {kind} but its key data is damaged (truncated or padded)"
    return ""


def _ssh_strings(blob: bytes) -> list[bytes] | None:
    """The length-prefixed strings of an SSH key blob, or None when they do not add up."""
    fields, position = [], 0
    while position < len(blob):
        if position + 4 > len(blob):
            return None
        size = int.from_bytes(blob[position:position + 4], "big")
        position += 4
        if position + size > len(blob):
            return None
        fields.append(blob[position:position + size])
        position += size
    return fields


def _key_line(line: str) -> str:
    """A key line as written to authorized_keys: type, key data and comment, single-spaced."""
    return " ".join(line.split())


def _read_key_file(name: str, path: str, merged: Merged) -> list[str]:
    """The public keys in one declared key file; ``ConfigError`` for an unreadable file, a
    private key, a line that is not an OpenSSH public key, or a file with none."""
    file = Path(name.replace("${MOORING_STATE}", str(state_dir())))
    file = file if file.is_absolute() else project_root() / file
    declared = merged.file_of(path)
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(ConfigProblem(declared, path, f"key file {file} is not UTF-8 text (a binary file?)",
                                        KEY_FIX)) from None
    except OSError:
        raise ConfigError(ConfigProblem(declared, path, f"public key file {name!r} cannot be read",
                                        "create it (the sandbox's key appears after `mooring sandbox up`) or fix the path"))
    if any(marker in text for marker in PRIVATE_MARKERS):
        raise ConfigError(ConfigProblem(
            declared, path, f"key file {file} holds a private key: it would become an authorized key on every host",
            f"point at the public half ({file.name}.pub, or `ssh-keygen -y -f {file}` prints it); "
            "never copy a private key into declared state"))
    keys, bad = [], []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        why = public_key_problem(line)
        if why:
            bad.append((number, why))
        else:
            keys.append(_key_line(line))
    if bad:
        number, why = bad[0]
        more = f" (and {len(bad) - 1} more line(s))" if len(bad) > 1 else ""
        raise ConfigError(ConfigProblem(declared, path, f"key file {file}, line {number}: the line {why}{more}", KEY_FIX))
    if not keys:
        raise ConfigError(ConfigProblem(declared, path, f"key file {file} holds no public key", KEY_FIX))
    return keys


# --- the stack -----------------------------------------------------------------------------

def build_stack(data: dict[str, Any], environment: str, bootstrap: Bootstrap, merged: Merged) -> Stack:
    """Type the normalized ``stack`` block; resolve env references and secrets.

    Raises ``ConfigError`` listing every missing secret, unknown ``${KEY}`` reference,
    reference cycle and env key declared twice. Everything else is left to the static rules.
    """
    name = data["name"]
    stack_dir = posixpath.join(bootstrap.base_dir, name)
    _one_source_of_services(data, merged)
    services = {key: _service(key, value, stack_dir) for key, value in data.get("services", {}).items()
                if value["enabled"]}
    endpoints = {gate: _gate(gate, data["endpoints"][gate]) for gate in ("dev", "ops") if data["endpoints"].get(gate)}
    cors = Cors(**data["cors"]) if data.get("cors") else None
    if environment == PRODUCTION and data["secrets_generate_missing"]:
        # Refused before any secret is resolved: generation would write the secrets file.
        raise ConfigError(ConfigProblem(merged.file_of("stack.secrets_generate_missing"), "stack.secrets_generate_missing",
                                        "secret generation is on in production",
                                        "remove secrets_generate_missing (sandbox only) and provide the secrets"))
    env = resolve_env(_declared_env(data["env"], endpoints, cors, merged), environment,
                      data["secrets_generate_missing"], merged)
    compose = None
    if data.get("compose"):
        compose, services = _compose_project(data["compose"], name, stack_dir, env, merged)
    proxy = Proxy(**data["proxy"])
    proxy = _default_proxy(proxy, services)
    http_port = _http_port(proxy, services)
    probes = {kind: [_probe(p, f"stack.{kind}.{i}", services, proxy, http_port, merged)
                     for i, p in enumerate(data[kind])] for kind in ("health", "smoke")}
    problems = [p for found in probes.values() for p in found if isinstance(p, ConfigProblem)]
    if problems:
        raise ConfigError(problems)
    return Stack(
        name=name, dir=stack_dir, environment=environment, services=services, env=env,
        migration=_migration(data["migration"]) if data.get("migration") else None,
        health=probes["health"], smoke=probes["smoke"],
        endpoints=endpoints, cors=cors,
        backups=_backups(data["backups"], name, bootstrap, services, env),
        proxy=proxy, releases_keep=data["releases_keep"], http_port=http_port,
        secrets_generate_missing=data["secrets_generate_missing"], probes_from=data.get("probes_from") or "controller",
        compose=compose,
    )


def _one_source_of_services(data: dict[str, Any], merged: Merged) -> None:
    """Services come from ``stack.services`` or from ``stack.compose``: exactly one of them."""
    if data.get("compose") and data.get("services"):
        raise ConfigError(ConfigProblem(merged.file_of("stack.services"), "stack.services",
                                        "services are declared here and taken from stack.compose.files",
                                        "keep one: remove stack.services (the compose files declare the services; "
                                        "stack.compose.services adds what mooring needs) or remove stack.compose"))
    if not data.get("compose") and not data.get("services"):
        raise ConfigError(ConfigProblem(merged.file_of("stack"), "stack.services", "required key is missing",
                                        "declare the services under stack.services, or name the team's compose "
                                        "files in stack.compose.files"))


# --- services from the team's compose files ------------------------------------------------------

#: The role a service of a compose file gets from its image when stack.compose.services names none.
IMAGE_ROLES = {"postgres": "postgres", "mariadb": "mysql", "mysql": "mysql", "redis": "redis", "nginx": "proxy",
               "prometheus": "metrics"}


def _compose_project(data: dict[str, Any], name: str, stack_dir: str, env: dict[str, EnvVar],
                     merged: Merged) -> tuple[ComposeProject, dict[str, Service]]:
    """Compose's reading of the team's files, and mooring's view of their services."""
    layer = merged.file_of("stack.compose.files")
    src = compose_files.source(data["files"], data["profiles"], project_root(), layer)
    written = compose_files.written(src, name)
    variables = compose_files.variables(src, name, written)
    _check_variables(variables, env, src, merged)
    project = compose_files.normalized(src, name, {key: var.value for key, var in env.items()},
                                       [var.value for var in env.values() if var.secret and var.value])
    declared = _declaring_files(src, project.get("services", {}))
    extras = data.get("services") or {}
    unknown = sorted(set(extras) - set(project.get("services", {})))
    if unknown:
        raise ConfigError([ConfigProblem(merged.file_of(f"stack.compose.services.{key}"), f"stack.compose.services.{key}",
                                         f"{key} is not a service of the compose files (with profiles "
                                         f"{', '.join(src.profiles) or 'none'})", "use a service name of the files")
                           for key in unknown])
    relative: dict[str, Path] = {}
    services = {}
    for key, svc in project.get("services", {}).items():
        merged.origin.setdefault(f"services.{key}", declared.get(key, src.declared[0]))
        services[key] = _compose_service(key, svc, extras.get(key, {}), data["mounts"], src, stack_dir,
                                         relative, env, (written.get("services") or {}).get(key) or {})
    secret_files = _compose_secret_files(project.get("secrets") or {}, data.get("secrets") or {}, src, env, merged)
    built = _built(project.get("services", {}), services, declared, src, merged)
    return ComposeProject(src, variables, relative, secret_files, built), services


def _built(project: dict[str, Any], services: dict[str, Service], declared: dict[str, str], src: ComposeSource,
           merged: Merged) -> tuple[str, ...]:
    """The ``build:`` services mooring builds on the controller (those shipped); each must name its
    image, and a service without an image (a ``provider:`` service) is refused: mooring ships,
    pins and checks images."""
    problems = [ConfigProblem(declared.get(key, src.declared[0]), f"services.{key}.image",
                              f"{key} has `build:` but no `image:`: the host would have nothing to run",
                              "name the image it builds, e.g. `image: registry.example.com/team/" + key + ":${TAG}`")
                for key, svc in project.items() if svc.get("build") and not svc.get("image")]
    problems += [ConfigProblem(declared.get(key, src.declared[0]), f"services.{key}.image",
                               f"{key} has no `image:` (a `provider:` service?): mooring deploys, pins and checks "
                               "images, and has none to give it",
                               f"give {key} an image, or keep it out of the stack mooring deploys (a profile "
                               "stack.compose.profiles does not list)")
                 for key, svc in project.items() if not svc.get("build") and not svc.get("image")]
    if problems:
        raise ConfigError(problems)
    return tuple(key for key, svc in project.items() if svc.get("build") and services[key].image_source == "ship")


def _compose_secret_files(secrets: dict[str, Any], declared: dict[str, str], src: ComposeSource,
                          env: dict[str, EnvVar], merged: Merged) -> dict[str, tuple[str, str]]:
    """The Compose secrets mooring writes on the host: every ``file:`` inside the project is one,
    filled from the stack env key ``stack.compose.secrets`` names (a secret is never shipped from the repo)."""
    found, problems = {}, []
    for name in sorted(set(declared) - set(secrets)):
        key = f"stack.compose.secrets.{name}"
        problems.append(ConfigProblem(merged.file_of(key), key, f"{name} is not a secret of the compose files",
                                      "use a name of their top-level `secrets:`"))
    for name, secret in sorted(secrets.items()):
        local = Path(secret.get("file") or "/")
        if not secret.get("file") or not local.is_relative_to(src.project_dir):
            continue  # an environment: secret, or a file of the host's own
        rel = "./" + local.relative_to(src.project_dir).as_posix()
        key = declared.get(name)
        path = f"stack.compose.secrets.{name}"
        if key is None:
            problems.append(ConfigProblem(merged.file_of("stack.compose"), path,
                                          f"secret {name} comes from {rel}, a file of the repo",
                                          f"keep the value out of the repo: declare `stack.compose.secrets.{name}: KEY` "
                                          "with KEY a stack env key ({secret: NAME}); mooring writes the file on the host"))
        elif key not in env:
            problems.append(ConfigProblem(merged.file_of(path), path, f"{key} is not declared in stack.env",
                                          f"declare `{key}: {{secret: {key}}}` in stack.env"))
        else:
            found[name] = (rel, key)
    if problems:
        raise ConfigError(problems)
    return found


def _check_variables(variables: dict[str, Variable], env: dict[str, EnvVar], src: ComposeSource,
                     merged: Merged) -> None:
    """Every variable the files use without a default is declared; ``${X:?}`` ones are not empty,
    nor plain ``${X}`` ones unless declared ``allow_empty``."""
    files = ", ".join(src.declared)
    problems = []
    for var in variables.values():
        declared = env.get(var.name)
        if var.required and declared is None:
            problems.append(ConfigProblem(merged.file_of("stack.env"), f"stack.env.{var.name}",
                                          f"{files} use ${{{var.name}}} without a default, but stack.env does not "
                                          "declare it", f"declare {var.name} in stack.env (or give it a default in "
                                          f"the compose file: ${{{var.name}:-...}})"))
        elif declared is not None and var.required and declared.value == "" and (var.demanded or not declared.allow_empty):
            problems.append(ConfigProblem(merged.file_of(declared.path), declared.path,
                                          f"{var.name} is empty, but {files} need it"
                                          + (" (${" + var.name + ":?...})" if var.demanded else ""),
                                          f"give {var.name} a value" + ("" if var.demanded else
                                          f", or declare `{var.name}: {{value: \"\", allow_empty: true}}`")))
    if problems:
        raise ConfigError(problems)


def _declaring_files(src: ComposeSource, services: dict[str, Any]) -> dict[str, str]:
    """Service name → the first compose file that writes it (for findings): one of the declared
    files (as declared), or a file one of them ``include:``s (relative to the project)."""
    found: dict[str, str] = {}
    seen: set[Path] = set()
    for path, declared in zip(src.files, src.declared):
        for key, where in _written_services(path, declared, seen):
            found.setdefault(key, where)
    return found


def _written_services(path: Path, shown: str, seen: set[Path]) -> list[tuple[str, str]]:
    """(service, file shown) for each service ``path`` writes, those of the files it
    ``include:``s first (Compose merges them before the including file's own)."""
    import yaml

    if path.resolve() in seen:
        return []
    seen.add(path.resolve())
    try:
        # bytes: PyYAML reads UTF-8 and UTF-16 with its BOM, as Compose does (and its documents)
        documents = list(yaml.load_all(path.read_bytes(), Loader=_compose_loader()))
    except (OSError, yaml.YAMLError):
        return []
    written = []
    for document in documents:
        if isinstance(document, dict):
            written += _document_services(document, path, shown, seen)
    return written


def _document_services(document: dict[str, Any], path: Path, shown: str, seen: set[Path]) -> list[tuple[str, str]]:
    written = []
    for item in document.get("include") or []:
        named = item.get("path") if isinstance(item, dict) else item
        for included in [named] if isinstance(named, str) else (named or []):
            # relative to the including file, shown as the including file is (relative to the project)
            written += _written_services(path.parent / str(included),
                                         posixpath.normpath(posixpath.join(posixpath.dirname(shown), str(included))),
                                         seen)
    services = document.get("services")
    written += [(str(key), shown) for key in (services if isinstance(services, dict) else {})]
    return written


def _compose_tag(loader: Any, suffix: str, node: Any) -> Any:
    """Compose's own YAML tags (``!reset``, ``!override``) read as the value they tag."""
    import yaml

    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_scalar(node)


@functools.cache
def _compose_loader() -> type:
    """The YAML loader for compose files (made once, on first use: yaml is imported lazily here)."""
    import yaml

    plain = "tag:yaml.org,2002:str"
    resolved = {f"tag:yaml.org,2002:{kind}" for kind in ("bool", "int", "float", "null", "timestamp")}

    class ComposeLoader(yaml.SafeLoader):
        """The safe loader, plus Compose's ``!reset`` and ``!override``; keys read as written
        (Compose reads YAML 1.2: ``on:`` names the service "on", not True)."""

        def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
            self.flatten_mapping(node)  # merge keys (<<) first: their entries' keys are read as written too
            for key_node, _ in node.value:
                if key_node.tag in resolved:
                    key_node.tag = plain
            return super().construct_mapping(node, deep)

    ComposeLoader.add_multi_constructor("!", _compose_tag)
    return ComposeLoader


def _compose_service(name: str, svc: dict[str, Any], extra: dict[str, Any], mounts: dict[str, Any],
                     src: ComposeSource, stack_dir: str, relative: dict[str, Path], env: dict[str, EnvVar],
                     written: dict[str, Any]) -> Service:
    """mooring's view of service ``name`` of Compose's interpolated project (``svc``); ``written``
    is the same service before interpolation."""
    path = f"services.{name}"
    environment = {str(k): "" if v is None else str(v) for k, v in (svc.get("environment") or {}).items()}
    # "Receives stack env key K": the container's K is the stack's K (as `K: ${K}` writes it).
    received = [k for k, v in environment.items() if k in env and env[k].value == v]
    image = svc.get("image") or ""
    role = extra.get("role") or IMAGE_ROLES.get(image.rsplit("/", 1)[-1].split(":")[0].split("@")[0], "other")
    hc = svc.get("healthcheck") or {}
    test = hc.get("test")
    return Service(
        name=name, role=role, image=image, image_source=extra.get("image_source") or "registry",
        command=[str(arg) for arg in svc["command"]] if svc.get("command") else None,
        ports=[port for port in map(_compose_port, svc.get("ports") or []) if port],
        env_keys=received, required_env=list(extra.get("required_env") or []),
        volumes=[_compose_mount(m, mounts, src, stack_dir, relative, f"{path}.volumes.{i}")
                 for i, m in enumerate(svc.get("volumes") or []) if m.get("type") in ("bind", "volume")],
        healthcheck=Healthcheck([str(arg) for arg in test], hc.get("interval") or "30s", hc.get("timeout") or "30s",
                                hc.get("retries") or 3, hc.get("start_period") or "0s")
        if test and not hc.get("disable") and test[0] != "NONE" else None,
        depends_on={dep: (cond or {}).get("condition", "service_started") for dep, cond in (svc.get("depends_on") or {}).items()},
        restart=svc.get("restart") or "no",
        metrics=Metrics(extra["metrics"]["path"], extra["metrics"]["port"]) if extra.get("metrics") else None,
        path=path, environment=environment, written=_written_args(written),
    )


def _written_args(written: dict[str, Any]) -> dict[str, list[str]]:
    """``command`` and ``healthcheck.test`` of an uninterpolated service, as lists of strings
    (Compose leaves a string command unsplit there: its words are only searched for ``${KEY}``).

    >>> _written_args({"command": "redis-server --requirepass ${PW}", "healthcheck": {"test": ["CMD", "true"]}})
    {'command': ['redis-server --requirepass ${PW}'], 'healthcheck.test': ['CMD', 'true']}
    """
    texts = {"command": written.get("command"), "healthcheck.test": (written.get("healthcheck") or {}).get("test")}
    return {where: [value] if isinstance(value, str) else [str(arg) for arg in value]
            for where, value in texts.items() if value}


def _migration(data: dict[str, Any]) -> Migration:
    """The declared ``stack.migration`` (validated: ``service`` and ``command`` are set, ``down`` is
    a command or None)."""
    down = data["down"]
    return Migration(data["service"], list(data["command"]), list(down) if down else None)


def _compose_port(port: dict[str, Any]) -> PortMapping | None:
    """A published port of Compose's long form; None when not published or a range (not checked)."""
    published = str(port.get("published") or "")
    if not published.isdigit():
        return None
    return PortMapping(port.get("host_ip") or "", int(published), int(port["target"]), port.get("protocol") or "tcp")


def _compose_mount(mount: dict[str, Any], declared: dict[str, Any], src: ComposeSource, stack_dir: str,
                   relative: dict[str, Path], path: str) -> Mount:
    """A volume or bind mount; a bind source inside the project folder becomes its copy in the stack folder."""
    source = str(mount.get("source") or "")
    owner = group = mode = None
    kind = "dir"
    if mount["type"] == "bind":
        local = Path(source)
        if local.is_relative_to(src.project_dir):
            rel = "./" + local.relative_to(src.project_dir).as_posix()
            relative[rel] = local
            # `./nginx/` and `./nginx` name the same folder (Compose hands the source over normalised)
            attrs = next((value for key, value in declared.items()
                          if posixpath.normpath(key) == posixpath.normpath(rel)), None) or {}
            owner, group, mode = attrs.get("owner"), attrs.get("group") or attrs.get("owner"), attrs.get("mode")
            source = posixpath.normpath(posixpath.join(stack_dir, rel))
            kind = "file" if local.is_file() else "dir"
    return Mount(type=mount["type"], source=source, target=mount["target"], read_only=bool(mount.get("read_only")),
                 owner=owner, group=group, mode=mode.rjust(4, "0") if mode else None, kind=kind, template=None,
                 path=path)


def _service(name: str, data: dict[str, Any], stack_dir: str) -> Service:
    path = f"stack.services.{name}"
    hc = data.get("healthcheck")
    metrics = data.get("metrics")
    return Service(
        name=name, role=data["role"], image=data["image"], image_source=data["image_source"],
        command=list(data["command"]) if data.get("command") is not None else None,
        ports=[_port(p) for p in data["ports"]],
        env_keys=list(dict.fromkeys([*data["env"], *data["required_env"]])),
        required_env=list(data["required_env"]),
        volumes=[_mount(m, stack_dir, f"{path}.volumes.{i}") for i, m in enumerate(data["volumes"])],
        healthcheck=Healthcheck(list(hc["test"]), hc["interval"], hc["timeout"], hc["retries"], hc["start_period"]) if hc else None,
        depends_on=dict(data["depends_on"]), restart=data["restart"],
        metrics=Metrics(metrics["path"], metrics["port"]) if metrics else None, path=path,
    )


def _port(value: str | dict[str, Any]) -> PortMapping:
    if isinstance(value, dict):
        return PortMapping(value["host_ip"], value["published"], value["target"], value["protocol"])  # defaults: the schema's
    match = PORT_STRING_RE.match(value)
    assert match, value  # the schema checked it
    return PortMapping((match.group("ip") or "").strip("[]"), int(match.group("published")), int(match.group("target")),
                       match.group("proto") or "tcp")


def mount_source(source: str, stack_dir: str) -> str:
    """A declared mount source as the host sees it: ``${STACK_DIR}`` expanded, host paths
    normalised (``posixpath.normpath``: no trailing ``/``, no ``.`` segments), so that rules
    compare paths, not spellings. Named volumes stay as written.

    >>> mount_source("${STACK_DIR}/./nginx/conf.d/", "/srv/mooring/solacore"), mount_source("pgdata", "/srv")
    ('/srv/mooring/solacore/nginx/conf.d', 'pgdata')
    """
    if source == STACK_DIR_VAR or source.startswith(STACK_DIR_VAR + "/"):
        source = stack_dir + source[len(STACK_DIR_VAR):]
    if not source.startswith("/"):
        return source
    normal = posixpath.normpath(source)
    return "/" + normal.lstrip("/")  # normpath keeps a leading "//" (POSIX): one "/" is the same folder


def _mount(data: dict[str, Any], stack_dir: str, path: str) -> Mount:
    source = mount_source(data["source"], stack_dir)
    is_bind = source.startswith("/")
    kind = data.get("kind") or ("file" if data.get("template") else "dir")
    mode = data.get("mode")
    return Mount(
        type="bind" if is_bind else "volume", source=source, target=data["target"], read_only=data["read_only"],
        owner=data.get("owner"), group=data.get("group") or data.get("owner"),
        mode=mode.rjust(4, "0") if mode else None, kind=kind, template=data.get("template"), path=path,
    )


def _gate(name: str, data: dict[str, Any]) -> EndpointGate:
    return EndpointGate(name, data["enabled"], list(data["whitelist"]), data["enabled_env"], data["whitelist_env"],
                        data.get("probe_path") or ENDPOINT_PROBE_PATHS[name])


def _probe(data: dict[str, Any], path: str, services: dict[str, Service], proxy: Proxy, http_port: int | None,
           merged: Merged) -> Probe | ConfigProblem:
    """The typed probe with its host port resolved, or the problem that leaves it no port to ask.
    (A port only the host reaches, probed from the controller, is a finding of the checks:
    ``mooring.checks.probes.unreachable``.)"""
    try:
        port, host_ip = _probe_target(data, services, proxy, http_port)
    except _Unreachable as exc:
        key = f"{path}.{exc.key}"
        return ConfigProblem(merged.file_of(key), key, exc.message, exc.fix)
    return Probe(data["name"], data["path"], port, data.get("service"), data["expected_status"], float(data["timeout"]),
                 data["retries"], float(data["interval"]), data.get("max_latency_ms"), data.get("contains"), host_ip)


class _Unreachable(Exception):
    """A probe's ``service`` publishes nothing it could ask: ``key`` (service or port), message, fix."""

    def __init__(self, key: str, message: str, fix: str):
        super().__init__(message)
        self.key, self.message, self.fix = key, message, fix


def _probe_target(data: dict[str, Any], services: dict[str, Service], proxy: Proxy,
                  http_port: int | None) -> tuple[int | None, str]:
    """(host port, host_ip) a probe asks; raises :class:`_Unreachable` when ``service`` publishes
    no port it could ask.

    A service that is not declared or not enabled keeps the declared port: the rule
    ``services.references`` names it."""
    name, port = data.get("service"), data.get("port")
    if not name:
        port = port or http_port
        return port, _published_ip(port, services, proxy)
    service = services.get(name)
    if service is None:
        return port, ""
    mappings = [m for m in service.ports if m.protocol == "tcp"]
    shown = ", ".join(str(m) for m in mappings)
    if port is not None:
        chosen = [m for m in mappings if m.target == port]
        if not chosen:
            raise _Unreachable("port", f"service {name} publishes no host port for its container port {port}"
                               + (f" (it publishes {shown})" if shown else ""),
                               f'publish it, e.g. ports: ["127.0.0.1:{port}:{port}"] (with probes_from: host), or '
                               "name a container port it publishes")
        return chosen[0].published, chosen[0].host_ip
    if len(mappings) == 1:
        return mappings[0].published, mappings[0].host_ip
    if mappings:
        raise _Unreachable("service", f"service {name} publishes several ports ({shown})",
                           "say which with port: <its container port>")
    if name == proxy.upstream and http_port is not None:
        return http_port, _published_ip(http_port, services, proxy)
    raise _Unreachable("service", f"service {name} publishes no port, so no probe can reach it",
                       'publish one, e.g. ports: ["127.0.0.1:8000:8000"] (with probes_from: host), or remove '
                       "service: to probe through the proxy")


def _published_ip(port: int | None, services: dict[str, Service], proxy: Proxy) -> str:
    """The address host port ``port`` is published on: the proxy's mapping first, then one on
    every address (""), then the first found; "" when no service publishes it (a port of the
    host itself)."""
    ordered = sorted(services.values(), key=lambda s: s.name != proxy.service)
    found = [m.host_ip for s in ordered for m in s.ports if m.protocol == "tcp" and m.published == port]
    if not found or proxy.service in services and any(
            m.published == port for m in services[proxy.service].ports if m.protocol == "tcp"):
        return found[0] if found else ""
    return "" if any(ip in ("", "0.0.0.0", "::") for ip in found) else found[0]


def _default_proxy(proxy: Proxy, services: dict[str, Service]) -> Proxy:
    """Fill ``service``/``upstream`` from the services' roles when not declared."""
    service = proxy.service or next((s.name for s in services.values() if s.role == "proxy"), None)
    upstream = proxy.upstream or next((s.name for s in services.values() if s.role == "app"), None)
    return replace(proxy, service=service, upstream=upstream)


def _http_port(proxy: Proxy, services: dict[str, Service]) -> int | None:
    """The host port the proxy publishes for ``listen_port`` (or its first published port)."""
    service = services.get(proxy.service or "")
    if not service or not service.ports:
        return None
    for port in service.ports:
        if port.target == proxy.listen_port and port.protocol == "tcp":
            return port.published
    return service.ports[0].published


def _backups(data: dict[str, Any], name: str, bootstrap: Bootstrap, services: dict[str, Service],
             env: dict[str, EnvVar]) -> Backups:
    service = data.get("service") or next((s.name for role in dumps.ENGINE_ROLES
                                           for s in services.values() if s.role == role), None)
    chosen = services.get(service) if service else None
    engine = chosen.role if chosen and chosen.role in dumps.ENGINES else "postgres"
    databases = list(data["databases"]) or _default_databases(engine, env)
    resolved = [_expand_plain(db, env) for db in databases]
    return Backups(data["enabled"], data["schedule"].strip(), data["retention_days"], resolved,
                   data.get("directory") or posixpath.join(bootstrap.backup_dir, name), service, data["keep_newest"],
                   data["metrics_dir"], (data.get("verify_schedule") or "").strip() or None,
                   data.get("copy_command") or None, data.get("on_failure") or None, engine)


#: The env keys naming an engine's database, as the official images read them (first found wins).
DATABASE_KEYS = {"postgres": ("POSTGRES_DB",), "mysql": ("MARIADB_DATABASE", "MYSQL_DATABASE")}


def _default_databases(engine: str, env: dict[str, EnvVar]) -> list[str]:
    """``${POSTGRES_DB}`` (or ``${MARIADB_DATABASE}``/``${MYSQL_DATABASE}``) when declared."""
    return next(([f"${{{key}}}"] for key in DATABASE_KEYS[engine] if key in env), [])


def _expand_plain(text: str, env: dict[str, EnvVar]) -> str:
    """``${KEY}`` (any Compose form) → what Compose makes of it from the non-secret values;
    a reference to a secret, or one Compose would refuse, stays as written."""
    def repl(match: re.Match) -> str:
        if not match.group(1):
            return match.group(0)
        ref = reference(match)
        var = env.get(ref.key)
        if var is not None and var.secret:
            return match.group(0)
        value = ref.value(None if var is None else var.value)
        return match.group(0) if value is None else value
    return REFERENCE_RE.sub(repl, text)


# --- env: declared values, generated values, references, secrets ----------------------------

@dataclass(frozen=True)
class _Declared:
    """One env key as declared (``raw``: its text, None for a secret) or generated by mooring."""

    key: str
    raw: str | None
    path: str
    secret_name: str | None = None
    multiline: bool = False
    allow_empty: bool = False


def _declared_env(env: dict[str, Any], endpoints: dict[str, EndpointGate], cors: Cors | None,
                  merged: Merged) -> list[_Declared]:
    declared = [_declared_entry(key, value) for key, value in env.items()]
    generated, problems = _generated_env(endpoints, cors, merged)
    problems += [ConfigProblem(merged.file_of(f"stack.env.{entry.key}"), f"stack.env.{entry.key}",
                              f"{entry.key} is also set by {generated[entry.key].path}",
                              f"remove it from stack.env and set {generated[entry.key].path} instead")
                for entry in declared if entry.key in generated]
    if problems:
        raise ConfigError(problems)
    return declared + list(generated.values())


def _declared_entry(key: str, value: Any) -> _Declared:
    path = f"stack.env.{key}"
    if isinstance(value, dict):
        allow_empty = bool(value.get("allow_empty"))
        if "secret" in value:
            return _Declared(key, None, path, value["secret"], allow_empty=allow_empty)
        return _Declared(key, value["value"], path, multiline=bool(value.get("multiline")), allow_empty=allow_empty)
    return _Declared(key, _scalar(value), path)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _generated_env(endpoints: dict[str, EndpointGate], cors: Cors | None,
                   merged: Merged) -> tuple[dict[str, _Declared], list[ConfigProblem]]:
    """Env keys that mooring writes from the endpoints and cors blocks, and a problem for every
    env name two of them share (the later one would silently replace the earlier)."""
    entries: list[tuple[str, _Declared]] = []  # (path of the *_env key naming it, entry)
    for gate in endpoints.values():
        base = f"stack.endpoints.{gate.name}"
        entries.append((f"{base}.enabled_env", _Declared(gate.enabled_env, _escape_refs(_scalar(gate.enabled)),
                                                         f"{base}.enabled")))
        entries.append((f"{base}.whitelist_env", _Declared(gate.whitelist_env, _escape_refs(",".join(gate.whitelist)),
                                                           f"{base}.whitelist")))
    if cors:
        entries.append(("stack.cors.origins_env", _Declared(cors.origins_env, _escape_refs(",".join(cors.allowed_origins)),
                                                            "stack.cors.allowed_origins")))
        entries.append(("stack.cors.credentials_env", _Declared(cors.credentials_env, _scalar(cors.allow_credentials),
                                                                "stack.cors.allow_credentials")))
    out: dict[str, _Declared] = {}
    named_at: dict[str, str] = {}
    problems: list[ConfigProblem] = []
    for env_path, entry in entries:
        if entry.key in out:
            problems.append(ConfigProblem(merged.file_of(env_path), env_path,
                                          f"{entry.key} is also generated by {named_at[entry.key]}",
                                          f"give {env_path} and {named_at[entry.key]} different env names"))
            continue
        out[entry.key] = entry
        named_at[entry.key] = env_path
    return out, problems


def _unfilled_reference(entry: _Declared, ref: Reference, written: str, declared: bool, merged: Merged) -> ConfigProblem:
    """The problem with a reference Compose could not fill: its key is not declared (or is empty for ``:?``)."""
    where = merged.file_of(entry.path)
    if declared:
        return ConfigProblem(where, entry.path, f"references {written}, but {ref.key} is empty",
                             f"give {ref.key} a value in stack.env ({ref.argument or 'Compose refuses it empty'})")
    reason = f" ({ref.argument})" if ref.argument else ""
    return ConfigProblem(where, entry.path, f"references {written}, which stack.env does not declare{reason}",
                         f"declare {ref.key} in stack.env, give it a default (${{{ref.key}:-...}}), "
                         f"or write $${{{ref.key}}} for a literal ${{{ref.key}}}")


def _escape_refs(text: str) -> str:
    return text.replace("${", "$${")


def resolve_env(entries: list[_Declared], environment: str, generate_missing: bool, merged: Merged) -> dict[str, EnvVar]:
    """Resolve secrets and ``${KEY}`` references; raise one ``ConfigError`` with every problem."""
    by_key = {entry.key: entry for entry in entries}
    refs = [SecretRef(e.secret_name, e.path, merged.file_of(e.path)) for e in entries if e.secret_name]
    secret_values = resolve_secrets(refs, environment, generate_missing)
    problems: list[ConfigProblem] = []
    resolved: dict[str, EnvVar] = {}
    for key in by_key:
        _resolve_key(key, by_key, secret_values, resolved, problems, merged, ())
    if problems:
        unique = list({(p.file, p.path, p.message): p for p in problems}.values())
        raise ConfigError(unique)
    return {key: resolved[key] for key in sorted(resolved)}


def _resolve_key(key: str, by_key: dict[str, _Declared], secret_values: dict[str, str], resolved: dict[str, EnvVar],
                 problems: list[ConfigProblem], merged: Merged, chain: tuple[str, ...]) -> EnvVar | None:
    if key in resolved:
        return resolved[key]
    entry = by_key[key]
    if entry.secret_name:
        value = secret_values[entry.secret_name]
        resolved[key] = EnvVar(key, value, True, entry.path, entry.secret_name, False, (), MASK, f"{{secret: {entry.secret_name}}}",
                               entry.allow_empty)
        return resolved[key]
    if key in chain:
        cycle = " → ".join([*chain[chain.index(key):], key])
        problems.append(ConfigProblem(merged.file_of(entry.path), entry.path, f"references form a cycle: {cycle}",
                                      "make one of these values literal"))
        return None
    value, masked, secret, references = [], [], False, []
    raw = entry.raw or ""
    position = 0
    for match in REFERENCE_RE.finditer(raw):
        literal = raw[position:match.start()]
        value.append(literal)
        masked.append(literal)
        position = match.end()
        if not match.group(1):
            value.append("${")
            masked.append("${")
            continue
        ref = reference(match)
        target = None
        if ref.key in by_key:
            references.append(ref.key)
            target = _resolve_key(ref.key, by_key, secret_values, resolved, problems, merged, (*chain, key))
            if target is None:
                continue
        filled = ref.value(None if target is None else target.value)
        if filled is None:
            problems.append(_unfilled_reference(entry, ref, match.group(0), target is not None, merged))
            continue
        from_target = target is not None and filled == target.value
        value.append(filled)
        masked.append(target.masked if from_target and target.secret else filled)
        secret = secret or (from_target and target.secret)
    value.append(raw[position:])
    masked.append(raw[position:])
    if any(p.path == entry.path for p in problems):
        return None
    resolved[key] = EnvVar(key, "".join(value), secret, entry.path, None, entry.multiline, tuple(references),
                           "".join(masked), raw, allow_empty=entry.allow_empty)
    return resolved[key]
