"""The host snapshot: a host's whole managed state, read in one remote command.

:func:`snapshot_spec` says what to look at on one host (from the declared model and the
rendered stack); :func:`snapshot_script` turns it into one POSIX sh script that prints a
line-oriented, tab-separated report; :func:`parse_snapshot` reads that report back into a
typed :class:`HostSnapshot`. Live rules and drift compare a snapshot with the declared state.

No secret value and no unkeyed hash of secret content ever leaves the host: the host prints
``sha256(K || bytes)`` for each ``.env`` line, each secret file and each compose config-hash
label, where ``K`` is the per-host snapshot key (:func:`snapshot_key`) the deploy writes to
``<stack dir>/.mooring/snapshot.key``. The controller derives the same key and computes the
same digests from the rendered state (:func:`expected_env_digests`,
:func:`expected_file_digests`, :func:`expected_config_digests`), so it can tell "differs"
without any value. Without a key on the host those digests are unknown. See docs/snapshot.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import posixpath
import re
import shlex
import subprocess
import tempfile
import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Union

from mooring.declare.dumps import dump_pattern
from mooring.declare.errors import ConfigError, ConfigProblem
from mooring.declare.model import HostModel, Stack
from mooring.declare.render import (RenderedStack, backup_log_path, backup_metrics_path, cron_file_path, drill_metrics_path,
                            render_env_file)

#: Version of the line format (first record of every report) and of the JSON.
FORMAT_VERSION = 1
#: Where the deploy keeps the snapshot key, relative to the stack folder (root, 0600).
KEY_FILE = ".mooring/snapshot.key"
#: Length of the key: 64 lowercase hex characters, nothing else (no newline).
KEY_LENGTH = 64
KEY_LABEL = b"mooring-snapshot-key"
#: The host proves it holds the expected key with ``sha256(K || KEY_CHECK)``.
KEY_CHECK = b"mooring-snapshot-key-check"
METRICS_MAX_LINES = 1000
#: A release record is one JSON document of a few dozen lines; more is not a record of ours.
RECORD_MAX_LINES = 2000
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\\]")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# --- what to look at ------------------------------------------------------------------------

@dataclass(frozen=True)
class PathSpec:
    """One path the snapshot stats: its kind and, when mooring manages it, declared ownership.

    ``role`` says why it is watched: ``file``/``dir`` (written by the deploy), ``mount`` (a
    bind-mount source the deploy does not write), ``key`` (the snapshot key: stat only, never
    hashed), ``releases``, ``log`` (backup log), ``metrics``. ``secret`` files get a keyed
    digest instead of a plain sha256; ``digest`` is False for folders and the key.
    """

    path: str
    kind: str
    role: str
    mode: str | None = None
    owner: str | None = None
    group: str | None = None
    secret: bool = False
    digest: bool = False
    read_only: bool = False


@dataclass(frozen=True)
class EnvKeySpec:
    """A declared ``.env`` key: required (some service's ``required_env``) or optional."""

    key: str
    required: bool
    secret: bool
    services: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServiceSpec:
    """A declared compose service: its image ref and whether it has a healthcheck."""

    name: str
    image: str
    healthcheck: bool
    restart: str


@dataclass(frozen=True)
class SnapshotSpec:
    """What to look at on one host (hashable and JSON-serialisable: pyinfra fact argument).

    >>> from mooring.declare.model import build_model
    >>> from mooring.declare.render import render_stack
    >>> model = build_model("docker-1", ["sandbox"])
    >>> spec = snapshot_spec(model, render_stack(model))
    >>> spec.project, spec.key_file
    ('solacore', '/srv/mooring/solacore/.mooring/snapshot.key')
    >>> SnapshotSpec.from_json(spec.to_json()) == spec
    True
    """

    host: str
    project: str
    stack_dir: str
    compose_file: str
    env_file: str
    key_file: str
    releases_dir: str
    paths: tuple[PathSpec, ...]
    env_keys: tuple[EnvKeySpec, ...]
    services: tuple[ServiceSpec, ...]
    cron_files: tuple[str, ...] = ()
    backup_dir: str | None = None
    backup_patterns: tuple[str, ...] = ()
    backup_databases: tuple[str, ...] = ()
    backup_log: str | None = None
    metrics_file: str | None = None
    verify_metrics_file: str | None = None  # the restore drill's textfile

    def __str__(self) -> str:  # pyinfra logs fact arguments with str()
        return f"SnapshotSpec({self.host}:{self.stack_dir})"

    def path(self, path: str) -> PathSpec | None:
        """The watched path ``path``, or None."""
        return next((p for p in self.paths if p.path == path), None)

    def to_json(self) -> dict[str, Any]:
        """The spec as JSON-able data (no value, no secret: paths, names and declared modes)."""
        return _to_data(self, True)

    @classmethod
    def from_json(cls, data: dict[str, Any] | str) -> SnapshotSpec:
        """Read :meth:`to_json`'s data (or its JSON text) back."""
        return _from_data(cls, json.loads(data) if isinstance(data, str) else data)


def snapshot_spec(model: HostModel, rendered: RenderedStack, metrics_file: str | None = None) -> SnapshotSpec:
    """What the snapshot reads on ``model``'s host: every path ``rendered`` manages, bind-mount
    sources, the .env keys, cron file, compose project, backups, release pointers.

    Raises ``ConfigError`` (file, key, fix) for a path the report could not carry safely
    (a control character or a backslash) and for a stack without one.

    + metrics_file: the backup metrics textfile (default :func:`backup_metrics_path`)
    """
    stack = model.stack
    if stack is None:
        raise ConfigError(ConfigProblem(model.merged.file_of("stack"), "stack", f"{model.name} declares no stack",
                                        "declare a stack for the host, or leave it out of the snapshot"))
    paths: dict[str, PathSpec] = {}
    for directory in rendered.directories:
        paths[directory.path] = PathSpec(directory.path, "dir", "dir", directory.mode, directory.owner, directory.group)
    for item in rendered.files:
        paths[item.path] = PathSpec(item.path, "file", "file", item.mode, item.owner, item.group, item.secret, True)
    for service in stack.services.values():
        for mount in service.volumes:
            if mount.type == "bind" and mount.source not in paths:
                paths[mount.source] = PathSpec(mount.source, mount.kind, "mount", mount.mode, mount.owner, mount.group,
                                               read_only=mount.read_only)
            elif mount.type == "bind" and mount.read_only:
                paths[mount.source] = _replace(paths[mount.source], read_only=True)
    key_file = posixpath.join(stack.dir, KEY_FILE)
    releases = posixpath.join(stack.dir, "releases")
    paths[key_file] = PathSpec(key_file, "file", "key", "0600", "root", "root")
    paths.setdefault(releases, PathSpec(releases, "dir", "releases"))
    backups = stack.backups.enabled and bool(stack.backups.service)
    log = backup_log_path(stack) if backups else None
    metrics = (metrics_file or backup_metrics_path(stack)) if backups else None
    verify_metrics = drill_metrics_path(stack) if backups else None
    for extra, role in ((log, "log"), (metrics, "metrics"), (verify_metrics, "metrics")):
        if extra:
            paths.setdefault(extra, PathSpec(extra, "file", role))
    databases = tuple(stack.backups.databases) if backups else ()
    spec = SnapshotSpec(
        host=model.name, project=stack.name, stack_dir=stack.dir, compose_file=stack.compose_file,
        env_file=stack.env_file, key_file=key_file, releases_dir=releases, paths=tuple(paths.values()),
        env_keys=_env_keys(stack), services=tuple(
            ServiceSpec(s.name, s.image, s.healthcheck is not None, s.restart) for s in stack.services.values()),
        cron_files=(cron_file_path(stack),) if backups else (),
        backup_dir=stack.backups.directory if backups else None,
        backup_patterns=tuple(dump_pattern(stack.name, db) for db in databases),
        backup_databases=databases, backup_log=log, metrics_file=metrics, verify_metrics_file=verify_metrics,
    )
    _check_spec(spec, model)
    return spec


def _env_keys(stack: Stack) -> tuple[EnvKeySpec, ...]:
    required = {key for s in stack.services.values() for key in s.required_env}
    users: dict[str, list[str]] = {}
    for service in stack.services.values():
        for key in service.env_keys:
            users.setdefault(key, []).append(service.name)
    return tuple(EnvKeySpec(key, key in required, var.secret, tuple(users.get(key, ())))
                 for key, var in sorted(stack.env.items()))


def _replace(spec: PathSpec, **changes: Any) -> PathSpec:
    from dataclasses import replace

    return replace(spec, **changes)


def _check_spec(spec: SnapshotSpec, model: HostModel) -> None:
    """Refuse a value the tab-separated report could not carry unambiguously (the schema refuses
    most of them already; host names and derived paths are checked here)."""
    file_of = model.merged.file_of
    values = [(p.path, file_of(_declared_at(model, p.path)), _declared_at(model, p.path)) for p in spec.paths]
    values += [(spec.host, "inventory", f"{spec.host!r} (host name)"), (spec.project, file_of("stack.name"), "stack.name")]
    values += [(db, file_of("stack.backups.databases"), "stack.backups.databases") for db in spec.backup_databases]
    values += [(s.image, file_of(f"stack.services.{s.name}.image"), f"stack.services.{s.name}.image")
               for s in spec.services]
    problems = [ConfigProblem(file, where, f"{value!r} holds a control character or a backslash: the host snapshot "
                                           "cannot report it unambiguously", "rename it with plain characters")
                for value, file, where in values if _UNSAFE.search(value)]
    problems += [ConfigProblem(file, where, f"{value!r} is not an absolute path",
                               "declare an absolute host path (or ${STACK_DIR}/...)")
                 for value, file, where in values[:len(spec.paths)] if not value.startswith("/")]
    if problems:
        raise ConfigError(problems)


def _declared_at(model: HostModel, path: str) -> str:
    """The declared key a watched path comes from (for error messages)."""
    stack = model.stack
    for service in stack.services.values() if stack else ():
        for number, mount in enumerate(service.volumes):
            if mount.source == path or mount.rendered_path == path:
                return f"{service.path}.volumes.{number}.source"
    if path.startswith(model.bootstrap.backup_dir):
        return "stack.backups.directory"
    return "bootstrap.base_dir"


# --- keyed digests ------------------------------------------------------------------------------

def snapshot_key(host_name: str, stack_dir: str) -> bytes:
    """The snapshot key of one host's stack: 64 hex characters (ASCII bytes), an HMAC-SHA256 of
    the controller's digest key over a label, the host name and the stack folder. The deploy
    writes exactly these bytes to ``<stack dir>/.mooring/snapshot.key`` (root, 0600).

    A leaked key file gives nothing about the controller's key or another host's key.

    >>> len(snapshot_key("docker-1", "/srv/mooring/solacore"))  # doctest: +SKIP
    64
    """
    from mooring.declare.secrets import digest_key

    message = b"\0".join((KEY_LABEL, host_name.encode(), stack_dir.encode()))
    return hmac.new(digest_key(), message, hashlib.sha256).hexdigest().encode("ascii")


def keyed_digest(key: bytes, data: bytes | str) -> str:
    """``sha256(key || data)`` in hex: what the host prints for keyed content.

    >>> keyed_digest(b"k" * 64, "A=1")[:12]
    'a871fac0b135'
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(key + data).hexdigest()


def key_check_digest(key: bytes) -> str:
    """The digest a host holding ``key`` reports as its key check (see :meth:`HostSnapshot.key_matches`)."""
    return keyed_digest(key, KEY_CHECK)


def expected_env_digests(source: Stack | str, key: bytes) -> dict[str, str]:
    """KEY → the keyed digest the host prints for that key's ``.env`` line when the file is as
    rendered (``source``: the stack, or the rendered .env text). A spec holds no values: pass
    the stack. Compare with :meth:`EnvState.differs`.

    >>> expected_env_digests("# c\\nA=1\\nB='x y'\\n", b"k" * 64)["A"] == keyed_digest(b"k" * 64, "A=1")
    True
    """
    text = render_env_file(source) if isinstance(source, Stack) else source
    digests: dict[str, str] = {}
    for line in text.split("\n"):
        name = env_line_key(line)
        if name:
            digests[name] = keyed_digest(key, line)
    return digests


def expected_file_digests(rendered: RenderedStack, key: bytes | None = None) -> dict[str, str]:
    """Path → the digest the host prints for each rendered file as rendered: plain sha256 for
    ordinary files, keyed (``key``) for secret ones (left out without a key)."""
    digests = {}
    for item in rendered.files:
        data = item.content.encode("utf-8")
        if not item.secret:
            digests[item.path] = hashlib.sha256(data).hexdigest()
        elif key is not None:
            digests[item.path] = keyed_digest(key, data)
    return digests


def expected_config_digests(stack: Stack, rendered: RenderedStack, key: bytes,
                            binary: str | None = None) -> dict[str, str]:
    """Service → keyed digest of the ``com.docker.compose.config-hash`` that Compose gives the
    service as rendered: compare with :attr:`ServiceState.config_digest` (stale when they differ).

    Runs the shipped Compose v2 (``docker compose config --hash``) on the controller with the
    host's project name and folder: the hash is the one the host computes (same Compose pin).
    The rendered .env goes to a private temporary folder (0700, file 0600), removed at once.
    Raises ``RuntimeError`` when Compose fails (its output is not quoted: it may hold values).
    """
    from mooring.declare.compose import local_binary

    binary = binary or local_binary()
    compose_text, env_text = rendered.file(stack.compose_file).content, rendered.file(stack.env_file).content
    # Hosts rendered alike get the same hashes: Compose runs once per distinct stack (in memory only).
    cache_key = hashlib.sha256("\0".join((binary, stack.name, stack.dir, compose_text, env_text)).encode()).hexdigest()
    if cache_key not in _CONFIG_HASHES:
        _CONFIG_HASHES[cache_key] = _compose_config_hashes(stack, compose_text, env_text, binary)
    return {service: keyed_digest(key, value) for service, value in _CONFIG_HASHES[cache_key].items()}


_CONFIG_HASHES: dict[str, dict[str, str]] = {}


def _compose_config_hashes(stack: Stack, compose_text: str, env_text: str, binary: str) -> dict[str, str]:
    """Service → ``config --hash`` of the rendered compose file and .env, from the local Compose."""
    with tempfile.TemporaryDirectory(prefix="mooring-snapshot-") as folder:
        compose_path, env_path = Path(folder, "compose.yml"), Path(folder, ".env")
        compose_path.write_text(compose_text, encoding="utf-8")
        handle = os.open(env_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(env_text)
        clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": folder, "DOCKER_CONFIG": folder}
        proc = subprocess.run([binary, "--project-name", stack.name, "--project-directory", stack.dir,
                               "-f", str(compose_path), "--env-file", str(env_path), "config", "--hash", "*"],
                              capture_output=True, text=True, timeout=60, env=clean, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise RuntimeError(f"docker compose config --hash failed for stack {stack.name} (exit {proc.returncode})")
    return {service: value.strip() for service, value in
            (line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line)}


def env_line_key(line: str) -> str | None:
    """The key a ``.env`` line sets (``KEY=...`` or ``export KEY=...``), None for comments,
    blank and malformed lines: the same reading as the host's.

    >>> env_line_key("export A_1 = x"), env_line_key("# A=1"), env_line_key("1A=x")
    ('A_1', None, None)
    """
    text = line.lstrip(" \t")
    if not text or text.startswith("#"):
        return None
    if re.match(r"export[ \t]", text):
        text = re.sub(r"^export[ \t]+", "", text)
    name, eq, _ = text.partition("=")
    name = name.rstrip(" \t")
    return name if eq and _NAME.match(name) else None


# --- the script ---------------------------------------------------------------------------------

# Reads the snapshot key (kf; ke=1 when the file exists, 2 when its folder is closed to us) and the .env (its input): prints the
# key's state, one `env` record per KEY= line (line number, key, empty/set) and writes each
# keyed message (K || line) to d/e.<line>, the key check to d/c.0 and K alone to d/key, for
# one sha256sum afterwards. No value is ever printed.
_ENV_AWK = r"""
BEGIN {
    state = "absent"; k = ""
    if (ke == "2") state = "unreadable"
    if (ke == "1") {
        r = (getline k < kf)
        if (r < 0) state = "unreadable"
        else if (r == 0 || length(k) != 64 || k ~ /[^0-9a-f]/ || (getline extra < kf) > 0) state = "malformed"
        else state = "present"
        close(kf)
        if (state != "present") k = ""
    }
    if (k != "" && d != "") {
        printf "%s", k > (d "/key"); close(d "/key")
        printf "%s%s", k, "mooring-snapshot-key-check" > (d "/c.0"); close(d "/c.0")
    }
    print "key\t" state
}
{
    line = $0
    s = line
    sub(/^[ \t]+/, "", s)
    if (s == "" || substr(s, 1, 1) == "#") next
    if (s ~ /^export[ \t]/) sub(/^export[ \t]+/, "", s)
    eq = index(s, "=")
    name = ""
    if (eq > 1) name = substr(s, 1, eq - 1)
    sub(/[ \t]+$/, "", name)
    if (name !~ /^[A-Za-z_][A-Za-z0-9_]*$/) { print "envbad\t" NR; next }
    v = substr(s, eq + 1)
    sub(/^[ \t]+/, "", v); sub(/[ \t\r]+$/, "", v)
    empty = "set"
    if (v == "" || v == "\"\"" || v == "''" || substr(v, 1, 1) == "#") empty = "empty"
    if (k != "" && d != "") { f = d "/e." NR; printf "%s%s", k, line > f; close(f) }
    print "env\t" NR "\t" name "\t" empty
}
"""

# Escapes one line of host text for the report: backslash, tab and every byte outside
# printable ASCII (\\, \t, \xHH), so records stay one line, tab-separated and valid UTF-8.
_ESC_AWK = r"""
BEGIN { for (i = 1; i < 256; i++) ord[sprintf("%c", i)] = i }
max != "" && NR > max + 0 { exit }
{
    line = $0
    if (line ~ /[^ -~]/ || index(line, "\\") > 0) {
        out = ""
        n = length(line)
        for (i = 1; i <= n; i++) {
            c = substr(line, i, 1)
            if (c == "\\") out = out "\\\\"
            else if (c == "\t") out = out "\\t"
            else if (c ~ /[ -~]/) out = out c
            else out = out sprintf("\\x%02x", ord[c])
        }
        line = out
    }
    print tag "\t" f "\t" NR "\t" line
}
"""

# One docker inspect reads the project's containers and the declared images (Docker falls back
# to the raw JSON for a format that fits either): "C" lines are containers, "I" lines images.
# Fields are JSON-quoted (no raw tab, newline or invalid UTF-8); a container's last field, its
# config-hash label, is replaced by a keyed message in d/h.<n> (never printed).
_INSPECT_AWK = r"""
BEGIN { FS = "\t"; k = ""; if (d != "" && (getline k < (d "/key")) <= 0) k = "" }
$0 == "" { next }
$1 == "I" && NF == 4 { print "image\t" $2 "\t" $3 "\t" $4; next }
$1 != "C" || NF < 3 { print "inspectbad\t" NR; next }
{
    h = $NF
    out = "container\t" NR
    for (i = 2; i < NF; i++) out = out "\t" $i
    gsub(/"/, "", h)
    if (h == "null") h = ""
    print out "\t" (h == "" ? "none" : (k == "" ? "unknown" : "keyed"))
    if (k != "" && h != "") { f = d "/h." NR; printf "%s%s", k, h > f; close(f) }
}
"""

CONTAINER_FIELDS = ("name", "id", "service", "state", "health", "image_id", "image", "started_at", "exit_code",
                    "restart_count", "oneoff")
_INSPECT_FORMAT = "".join([
    '{{if index . "State"}}C\t', "\t".join([
        "{{json .Name}}", "{{json .Id}}", '{{json (index .Config.Labels "com.docker.compose.service")}}',
        "{{json .State.Status}}", '{{with index .State "Health"}}{{json .Status}}{{else}}"none"{{end}}',
        "{{json .Image}}", "{{json .Config.Image}}", "{{json .State.StartedAt}}", "{{json .State.ExitCode}}",
        "{{json .RestartCount}}", '{{json (index .Config.Labels "com.docker.compose.oneoff")}}',
        '{{json (index .Config.Labels "com.docker.compose.config-hash")}}']),
    "{{else}}I\t{{json .RepoTags}}\t{{json .RepoDigests}}\t{{json .Id}}{{end}}",
])
#: Where the docker CLI looks for its compose plugin, in its order (the user's folder first).
_COMPOSE_PLUGINS = ("$HOME/.docker/cli-plugins/docker-compose", "/usr/local/lib/docker/cli-plugins/docker-compose",
                    "/usr/local/libexec/docker/cli-plugins/docker-compose", "/usr/lib/docker/cli-plugins/docker-compose",
                    "/usr/libexec/docker/cli-plugins/docker-compose")
_V1_PIP_GLOBS = ("/usr/lib/python3/dist-packages/docker_compose-*", "/usr/local/lib/python3*/dist-packages/docker_compose-*",
                 "/usr/local/lib/python3*/site-packages/docker_compose-*")


def snapshot_script(spec: SnapshotSpec) -> str:
    """One POSIX sh script that prints ``spec``'s host state as tab-separated records.

    Read-only: it writes only its own private temporary folder (removed on exit). Missing
    tools and paths are reported as records, never as a failed script; the docker calls run
    in the background while files are read. The key is read by awk from its file, never put
    in an argument; no value of the .env is ever printed. See docs/snapshot.md for the records.

    >>> from mooring.declare.model import build_model
    >>> from mooring.declare.render import render_stack
    >>> model = build_model("docker-1", ["sandbox"])
    >>> script = snapshot_script(snapshot_spec(model, render_stack(model)))
    >>> script.splitlines()[0]
    '# mooring host snapshot, format 1: read-only, one remote command (checks/snapshot.py)'
    """
    q = shlex.quote
    watched = [p.path for p in spec.paths]
    plain = [p.path for p in spec.paths if p.digest and not p.secret]
    secret = [p.path for p in spec.paths if p.digest and p.secret]
    images = sorted({s.image for s in spec.services})
    lines = [
        f"# mooring host snapshot, format {FORMAT_VERSION}: read-only, one remote command (checks/snapshot.py)",
        "LC_ALL=C", "export LC_ALL", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "export PATH",
        "umask 077",
        f"ENVFILE={q(spec.env_file)}", f"KEYFILE={q(spec.key_file)}", f"PROJECT={q(spec.project)}",
        f"RELEASES={q(spec.releases_dir)}", f"LOCKDIR={q(posixpath.join(spec.stack_dir, '.mooring/lock'))}",
        *(line for name, program in (("ENV_AWK", _ENV_AWK), ("ESC_AWK", _ESC_AWK), ("INSPECT_AWK", _INSPECT_AWK))
          for line in ("# shellcheck disable=SC2016  # an awk program: its $ are awk's", f"{name}={q(program.strip())}")),
        f"INSPECTFMT={q(_INSPECT_FORMAT)}",
        "tmp=$(mktemp -d 2>/dev/null) || tmp=''",
        "trap 'if [ -n \"$tmp\" ]; then rm -rf \"$tmp\"; fi' EXIT",
        "trap 'exit 1' HUP INT TERM",
        f"printf 'snapshot\\t{FORMAT_VERSION}\\t%s\\t%s\\n' {q(spec.host)} \"$(date +%s)\"",
        "if [ -z \"$tmp\" ]; then printf 'warning\\tno private temporary folder (mktemp -d failed): keyed digests unknown\\n'; fi",
        *_docker_jobs(images),
        "# paths: one stat call, then the missing ones",
        f"set -- {' '.join(q(p) for p in watched)}",
        "stat --printf 'path\\t%n\\t%F\\t%a\\t%u\\t%g\\t%U\\t%G\\t%s\\t%Y\\n' -- \"$@\" 2>/dev/null",
        "for p in \"$@\"; do",
        "\tif [ -e \"$p\" ] || [ -L \"$p\" ]; then continue; fi",
        "\td=${p%/*}; s=missing",  # hidden: a folder on the way is closed to the user we run as
        "\twhile [ -n \"$d\" ]; do",
        "\t\tif [ -d \"$d\" ]; then if [ ! -x \"$d\" ]; then s=hidden; fi; break; fi",
        "\t\td=${d%/*}",
        "\tdone",
        "\tprintf '%s\\t%s\\n' \"$s\" \"$p\"",
        "done",
    ]
    if plain:
        lines += ["# content: one sha256sum call over every ordinary regular file",
                  f"set -- {' '.join(q(p) for p in plain)}",
                  "sha256sum -- \"$@\" 2>/dev/null | sed 's/^/sha\t/'"]
    lines += [
        "# .env keys and the key (awk reads both; nothing but key names and line numbers is printed)",
        "kd=${KEYFILE%/*}",
        "if [ -e \"$KEYFILE\" ]; then ke=1; elif [ -d \"$kd\" ] && [ ! -x \"$kd\" ]; then ke=2; else ke=0; fi",
        "if [ ! -e \"$ENVFILE\" ]; then printf 'envfile\\tmissing\\n'; envin=/dev/null",
        "elif [ -r \"$ENVFILE\" ] && [ -f \"$ENVFILE\" ]; then printf 'envfile\\tread\\n'; envin=$ENVFILE",
        "else printf 'envfile\\tunreadable\\n'; envin=/dev/null; fi",
        "awk -v d=\"$tmp\" -v kf=\"$KEYFILE\" -v ke=\"$ke\" \"$ENV_AWK\" \"$envin\"",
    ]
    if secret:
        lines += [f"set -- {' '.join(q(p) for p in secret)}", "for f in \"$@\"; do",
                  "\tif [ ! -f \"$f\" ]; then continue",
                  "\telif [ ! -r \"$f\" ]; then printf 'ksha\\t%s\\tunreadable\\n' \"$f\"",
                  "\telif [ -z \"$tmp\" ] || [ ! -s \"$tmp/key\" ]; then printf 'ksha\\t%s\\tunknown\\n' \"$f\"",
                  "\telse s=$(cat -- \"$tmp/key\" \"$f\" | sha256sum); printf 'ksha\\t%s\\t%s\\n' \"$f\" \"${s%% *}\"; fi",
                  "done"]
    for path in spec.cron_files:
        lines += [f"f={q(path)}",
                  "if [ ! -e \"$f\" ]; then printf 'cronfile\\t%s\\tmissing\\n' \"$f\"",
                  "elif [ ! -r \"$f\" ]; then printf 'cronfile\\t%s\\tunreadable\\n' \"$f\"",
                  "else printf 'cronfile\\t%s\\tread\\n' \"$f\"; awk -v tag=cron -v f=\"$f\" -v max=1000 \"$ESC_AWK\" \"$f\"; fi"]
    lines += [
        "if ! command -v pgrep >/dev/null 2>&1; then printf 'daemon\\tcron\\tunknown\\n'",
        "elif pgrep -x cron >/dev/null 2>&1 || pgrep -x crond >/dev/null 2>&1; then printf 'daemon\\tcron\\trunning\\n'",
        "else printf 'daemon\\tcron\\tstopped\\n'; fi",
        *_v1_lines(),
        *_backup_lines(spec),
        *_metrics_lines(spec.metrics_file, "metricsfile", "metric"),
        *_metrics_lines(spec.verify_metrics_file, "verifyfile", "verifymetric"),
        "# release pointers, kept releases, deploy lock",
        "for p in current pending; do",
        "\tif [ -f \"$RELEASES/$p\" ]; then",
        "\t\tv=''; IFS= read -r v < \"$RELEASES/$p\" || true",
        "\t\tcase $v in *[!A-Za-z0-9._\\ -]*) printf 'releasebad\\t%s\\n' \"$p\" ;; *) printf 'release\\t%s\\t%s\\n' \"$p\" \"$v\" ;; esac",
        "\tfi",
        "done",
        "for r in \"$RELEASES\"/[0-9][0-9][0-9][0-9]-*; do",
        "\tn=${r##*/}",
        "\tcase $n in *[!A-Za-z0-9-]*) continue ;; esac",
        "\tif [ -d \"$r\" ]; then printf 'releasekept\\t%s\\n' \"$n\"; fi",
        "\tif [ -f \"$r/replaces\" ]; then",
        "\t\tv=''; IFS= read -r v < \"$r/replaces\" || true",
        "\t\tcase $v in ''|*[!A-Za-z0-9-]*) printf 'releasebad\\t%s\\n' \"$n/replaces\" ;; "
        "*) printf 'releaseprev\\t%s\\t%s\\n' \"$n\" \"$v\" ;; esac",
        "\tfi",
        "\tif [ -f \"$r/record.json\" ] && [ -r \"$r/record.json\" ]; then",
        f"\t\tawk -v tag=releaserec -v f=\"$n\" -v max={RECORD_MAX_LINES} \"$ESC_AWK\" \"$r/record.json\"",
        "\tfi",
        "done",
        "if [ -d \"$LOCKDIR\" ]; then printf 'lock\\theld\\n'; else printf 'lock\\tfree\\n'; fi",
        *_docker_results(),
        "# keyed digests: one sha256sum over every keyed message (env lines, key check, config hashes)",
        "if [ -n \"$tmp\" ] && [ -s \"$tmp/key\" ]; then",
        "\tsha256sum -- \"$tmp\"/e.* \"$tmp\"/c.0 \"$tmp\"/h.* 2>/dev/null | sed 's/^/ksum\t/'",
        "fi",
        "printf 'end\\n'",
        "exit 0",
    ]
    return "\n".join(lines) + "\n"


def _docker_jobs(images: list[str]) -> list[str]:
    """Start the docker calls in the background (they wait on dockerd while files are read):
    the engine's version, the compose plugin's (run directly: what ``docker compose`` runs),
    and ``docker ps`` piped into one ``docker inspect`` of containers and declared images."""
    refs = " ".join(shlex.quote(i) for i in images)
    plugins = " ".join(f'"{p}"' if p.startswith("$") else shlex.quote(p) for p in _COMPOSE_PLUGINS)
    return [
        "# docker: engine version, compose plugin version, containers and declared images (one ps, one inspect)",
        "cp=''",
        f"for p in {plugins}; do",
        "\tif [ -f \"$p\" ] && [ -x \"$p\" ]; then cp=$p; break; fi",
        "done",
        "if command -v docker >/dev/null 2>&1 && [ -n \"$tmp\" ]; then",
        "\tdocker=present",
        "\tdocker version --format '{{.Server.Version}}' >\"$tmp/engine\" 2>\"$tmp/engine.err\" &",
        "\tif [ -n \"$cp\" ]; then \"$cp\" version --short >\"$tmp/compose\" 2>/dev/null & fi",
        "\tdocker ps -aq --no-trunc --filter \"label=com.docker.compose.project=$PROJECT\" 2>/dev/null |"
        f" xargs docker inspect --format \"$INSPECTFMT\" -- {refs} >\"$tmp/inspect\" 2>/dev/null &",
        "elif command -v docker >/dev/null 2>&1; then docker=notmp",
        "else docker=absent; fi",
    ]


def _docker_results() -> list[str]:
    return [
        "wait",
        "printf 'docker\\t%s\\n' \"$docker\"",
        "case $cp in *[!A-Za-z0-9/._-]*) cp=unprintable ;; esac",
        "if [ \"$docker\" = present ]; then",
        "\tv=''; IFS= read -r v < \"$tmp/engine\" || true",
        "\tc=''; if [ -n \"$cp\" ]; then IFS= read -r c < \"$tmp/compose\" || true; fi",
        "\tcase $v in *[!A-Za-z0-9.+_~-]*) v='' ;; esac",
        "\tcase $c in *[!A-Za-z0-9.+_~-]*) c='' ;; esac",
        "\tprintf 'engine\\t%s\\n' \"$v\"",
        "\tprintf 'compose\\t%s\\t%s\\n' \"$cp\" \"$c\"",
        "\tawk -v tag=engineerr -v f=docker -v max=1 \"$ESC_AWK\" \"$tmp/engine.err\"",
        "\tawk -v d=\"$tmp\" \"$INSPECT_AWK\" \"$tmp/inspect\"",
        "else printf 'compose\\t%s\\t\\n' \"$cp\"; fi",
    ]


def _v1_lines() -> list[str]:
    return [
        "# Compose v1: a docker-compose on PATH (with its version and package) and pip/Debian installs",
        "v1=$(command -v docker-compose 2>/dev/null) || v1=''",
        "if [ -n \"$v1\" ]; then",
        "\tver=$(\"$v1\" version --short 2>/dev/null | head -n 1 | tr -cd '0-9A-Za-z.+_-')",
        "\tpkg=$(dpkg -S \"$(readlink -f \"$v1\")\" 2>/dev/null | head -n 1 | cut -d: -f1 | tr -cd '0-9A-Za-z.+_-')",
        "\tcase $v1 in *[!A-Za-z0-9/._-]*) v1=unprintable ;; esac",
        "\tprintf 'v1\\t%s\\t%s\\t%s\\n' \"$v1\" \"$ver\" \"$pkg\"",
        "fi",
        f"for p in {' '.join(_V1_PIP_GLOBS)}; do",
        "\tcase $p in *[!A-Za-z0-9/._-]*) continue ;; esac",
        "\tif [ -e \"$p\" ]; then printf 'v1pip\\t%s\\n' \"$p\"; fi",
        "done",
    ]


def _backup_lines(spec: SnapshotSpec) -> list[str]:
    if not spec.backup_dir:
        return []
    q = shlex.quote
    names = [name for pattern in spec.backup_patterns for name in (pattern, f"{pattern}.partial",
                                                                  f"{pattern}.partial.status")]
    test = " -o ".join(f"-name {q(name)}" for name in names) or "-name ''"
    return [
        "# backups: this stack's own dumps (and leftovers) only, named as the backup job names them",
        f"b={q(spec.backup_dir)}",
        "if [ -d \"$b\" ]; then",
        "\tprintf 'backupdir\\tlisted\\n'",
        f"\tfind \"$b\" -mindepth 1 -maxdepth 1 \\( {test} \\) -printf 'backup\\t%f\\t%y\\t%s\\t%T@\\n' 2>/dev/null",
        "else printf 'backupdir\\tmissing\\n'; fi",
    ]


def _metrics_lines(path: str | None, file_tag: str, line_tag: str) -> list[str]:
    """A metrics textfile: one ``file_tag`` record (read / missing), one ``line_tag`` per line."""
    if not path:
        return []
    return [
        f"f={shlex.quote(path)}",
        f"if [ -f \"$f\" ] && [ -r \"$f\" ]; then printf '{file_tag}\\t%s\\tread\\n' \"$f\";"
        f" awk -v tag={line_tag} -v f=\"$f\" -v max={METRICS_MAX_LINES} \"$ESC_AWK\" \"$f\"",
        f"else printf '{file_tag}\\t%s\\tmissing\\n' \"$f\"; fi",
    ]


# --- the result ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class FileState:
    """One watched path as found. ``type``: file, dir, link, other; None when missing.
    ``hidden``: not found because a folder on its way is closed to the user the snapshot ran
    as (no sudo): whether it exists is unknown.

    ``sha256`` is the content digest of an ordinary file; a secret file has ``digest`` (keyed,
    kept out of :meth:`HostSnapshot.to_json`) and ``content`` says which: "sha256", "keyed",
    "unknown" (no key on the host), "unreadable", or "" (not hashed).
    """

    path: str
    exists: bool
    type: str | None = None
    mode: str | None = None
    owner: str | None = None
    group: str | None = None
    uid: int | None = None
    gid: int | None = None
    size: int | None = None
    mtime: int | None = None
    sha256: str | None = None
    content: str = ""
    hidden: bool = False
    digest: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class EnvKey:
    """One ``KEY=`` line of the host's .env: where, whether its value is empty, its keyed digest."""

    key: str
    line: int
    empty: bool
    digest: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class EnvState:
    """The host's .env: ``status`` read / missing / unreadable; its key lines; malformed line numbers."""

    status: str
    keys: tuple[EnvKey, ...] = ()
    bad_lines: tuple[int, ...] = ()

    def key(self, name: str) -> EnvKey | None:
        """The last line setting ``name`` (the one Compose uses), or None."""
        found = [k for k in self.keys if k.key == name]
        return found[-1] if found else None

    def names(self) -> tuple[str, ...]:
        """The keys present, in file order, each once."""
        return tuple(dict.fromkeys(k.key for k in self.keys))

    def duplicates(self) -> tuple[str, ...]:
        """Keys set on more than one line."""
        seen: dict[str, int] = {}
        for item in self.keys:
            seen[item.key] = seen.get(item.key, 0) + 1
        return tuple(key for key, count in seen.items() if count > 1)

    def differs(self, name: str, expected: dict[str, str]) -> bool | None:
        """True when the host's line for ``name`` is not the rendered one (``expected`` from
        :func:`expected_env_digests`), False when it is, None when unknown (no key on the host,
        key missing on either side)."""
        item = self.key(name)
        if item is None or item.digest is None or name not in expected:
            return None
        return not hmac.compare_digest(item.digest, expected[name])


@dataclass(frozen=True)
class CronState:
    """One cron file: ``status`` read / missing / unreadable, its lines (as text)."""

    path: str
    status: str
    lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServiceState:
    """One container of the compose project (``service`` from its compose label).

    ``health`` is healthy / unhealthy / starting / none (no healthcheck). ``config`` says what
    the snapshot knows of the ``com.docker.compose.config-hash`` label: "keyed" (``config_digest``
    holds ``sha256(K || label)``, compare with :func:`expected_config_digests`), "unknown" (no
    key on the host), "none" (no label).
    """

    service: str
    name: str
    id: str
    state: str
    health: str
    image_id: str
    image: str
    started_at: str = ""
    exit_code: int | None = None
    restart_count: int | None = None
    oneoff: bool = False
    config: str = "none"
    config_digest: str | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.state == "running"


@dataclass(frozen=True)
class ImageState:
    """An image the host has for a declared ref: its tags, digests and ID."""

    id: str
    tags: tuple[str, ...] = ()
    digests: tuple[str, ...] = ()


@dataclass(frozen=True)
class EngineState:
    """Docker and Compose on the host. ``docker``: present / absent (no client) / notmp.

    ``engine`` is the server version (None: the engine does not answer, ``engine_error`` says
    why); ``compose`` the version of the compose plugin ``docker compose`` runs (``compose_plugin``). ``v1_*`` describe a ``docker-compose`` on PATH,
    ``v1_pip`` Python installs of Compose 1.x.
    """

    docker: str = "absent"
    engine: str | None = None
    engine_error: str = ""
    compose: str | None = None
    compose_plugin: str | None = None
    v1_path: str | None = None
    v1_version: str | None = None
    v1_package: str | None = None
    v1_pip: tuple[str, ...] = ()

    @property
    def has_v1(self) -> bool:
        """True when Compose 1.x is on the host: a 1.x ``docker-compose`` on PATH, or a pip or
        Debian install of it (a standalone v2 ``docker-compose`` is not v1)."""
        return bool(self.v1_pip) or bool(self.v1_version and self.v1_version.lstrip("v").startswith("1."))

    @property
    def compose_v2(self) -> bool:
        """True when ``docker compose`` answers with a 2.x version."""
        return bool(self.compose and self.compose.lstrip("v").startswith("2."))


@dataclass(frozen=True)
class BackupFile:
    """One of the stack's own files in its backup folder (name, ``type`` f/l/d..., size, mtime)."""

    name: str
    type: str
    size: int
    mtime: int

    @property
    def kind(self) -> str:
        """dump, partial (an interrupted dump) or status (its failure marker)."""
        if self.name.endswith(".partial.status"):
            return "status"
        return "partial" if self.name.endswith(".partial") else "dump"


@dataclass(frozen=True)
class BackupState:
    """The backup folder: ``status`` listed / missing / "" (no backups declared); own files."""

    status: str = ""
    files: tuple[BackupFile, ...] = ()

    def dumps(self) -> tuple[BackupFile, ...]:
        """Finished dumps (regular files), oldest first."""
        return tuple(sorted((f for f in self.files if f.kind == "dump" and f.type == "f"), key=lambda f: f.mtime))


@dataclass(frozen=True)
class MetricsState:
    """A metrics textfile (the backup job's, the restore drill's): ``status`` read / missing, its lines."""

    path: str
    status: str
    lines: tuple[str, ...] = ()

    def samples(self) -> dict[str, float]:
        """``name{labels}`` → value of every sample line (comments and bad lines left out)."""
        found = {}
        for line in self.lines:
            if not line or line.startswith("#"):
                continue
            name, _, value = line.rpartition(" ")
            try:
                found[name.strip()] = float(value)
            except ValueError:
                continue
        return found


@dataclass(frozen=True)
class ReleaseRecord:
    """A kept release's ``record.json`` (written by ``mooring deploy``; it holds no secret
    values) as found in the release folder ``dirname``; ``data`` is {} when it is unreadable."""

    dirname: str
    text: str

    @property
    def data(self) -> dict[str, Any]:
        try:
            found = json.loads(self.text)
        except ValueError:
            return {}
        return found if isinstance(found, dict) else {}


@dataclass(frozen=True)
class ReleasePointer:
    """The release bookkeeping: ``current`` (``NNNN-<id>``), ``pending`` (``NNNN-<id> <run>``),
    the kept release folders, whether a deploy lock is held, and the kept releases' records."""

    current: str | None = None
    pending: str | None = None
    kept: tuple[str, ...] = ()
    locked: bool = False
    records: tuple[ReleaseRecord, ...] = ()
    replaced: tuple[tuple[str, str], ...] = ()  # (release folder, the release folder its ``replaces`` names)

    def record(self, dirname: str | None) -> dict[str, Any]:
        """The record of release folder ``dirname`` ({} when it has none)."""
        found = [r for r in self.records if r.dirname == dirname]
        return found[0].data if found else {}

    @property
    def current_number(self) -> int | None:
        return release_number(self.current)

    def rollback_target(self) -> str | None:
        """The kept release folder ``mooring rollback`` restores by default (see :func:`previous_release`)."""
        numbers = {release_number(name): name for name in self.kept if release_number(name) is not None}
        current = self.current_number if self.current in self.kept else None
        good = [n for n, name in numbers.items() if not name.endswith("-failed")]
        replaced = {release_number(new): release_number(old) for new, old in self.replaced}
        found = previous_release(current, good, {k: v for k, v in replaced.items() if k is not None and v is not None})
        return numbers.get(found) if found is not None else None


def release_number(dirname: str | None) -> int | None:
    """The number of a release folder name ``NNNN-<id>[-failed]``.

    >>> release_number("0012-ab34cd"), release_number("0003-ab34cd-failed"), release_number(None)
    (12, 3, None)
    """
    head = (dirname or "").partition("-")[0]
    return int(head) if head.isdigit() else None


def previous_release(current: int | None, good: Iterable[int], replaced: Mapping[int, int]) -> int | None:
    """The release a rollback restores by default: the good one that was live before ``current``.

    ``good``: the numbers of the kept releases that did not fail; ``replaced``: release number →
    the number of the release it replaced (its ``replaces`` file). The line is followed back past
    releases not kept or failed; where it ends (a release staged by an older mooring), the newest
    good release numbered below it. A release rolled back from is never in that line. With no
    current release: the newest good one.

    >>> previous_release(8, [6, 7, 8], {7: 6, 8: 6})  # 7 was rolled back from before 8 came
    6
    >>> previous_release(8, [3, 6, 8], {8: 5})  # 5 pruned: the newest good one below it
    3
    """
    good = sorted(good)
    bound, number = current, replaced.get(current) if current is not None else None
    while bound is not None and number is not None and number < bound:
        if number in good:
            return number
        bound, number = number, replaced.get(number)
    older = [n for n in good if bound is None or n < bound]
    return older[-1] if older else None


@dataclass(frozen=True)
class HostSnapshot:
    """One host's managed state as one snapshot read it (see :func:`parse_snapshot`).

    ``complete`` is False when the report was cut short; ``warnings`` name every line that
    could not be read (never its content). ``key`` is the snapshot key's state on the host:
    present / absent / malformed / unreadable.
    """

    host: str
    format: int
    taken_at: int | None
    files: tuple[FileState, ...] = ()
    env: EnvState = EnvState("missing")
    cron: tuple[CronState, ...] = ()
    cron_daemon: str = "unknown"
    services: tuple[ServiceState, ...] = ()
    images: tuple[ImageState, ...] = ()
    engine: EngineState = EngineState()
    backups: BackupState = BackupState()
    metrics: MetricsState | None = None
    verify_metrics: MetricsState | None = None
    release: ReleasePointer = ReleasePointer()
    key: str = "absent"
    complete: bool = False
    warnings: tuple[str, ...] = ()
    key_check: str | None = field(default=None, repr=False)

    def file(self, path: str) -> FileState | None:
        """The state of watched path ``path``, or None when it was not watched."""
        return next((f for f in self.files if f.path == path), None)

    def service(self, name: str) -> ServiceState | None:
        """The (first, not one-off) container of service ``name``, or None."""
        return next((s for s in self.services if s.service == name and not s.oneoff), None)

    def image_id(self, ref: str) -> str | None:
        """The ID of the image ``ref`` names on the host, or None when the host lacks it.

        >>> HostSnapshot("h", 1, 0, images=(ImageState("sha256:ab", ("postgres:15",)),)).image_id("docker.io/library/postgres:15")
        'sha256:ab'
        """
        wanted = normalize_ref(ref)
        for image in self.images:
            if wanted in {normalize_ref(t) for t in (*image.tags, *image.digests)}:
                return image.id
        return None

    def key_matches(self, key: bytes) -> bool | None:
        """True when the host holds ``key`` (its keyed digests are comparable), False when it holds
        another one, None when it holds none."""
        if self.key_check is None:
            return None
        return hmac.compare_digest(self.key_check, key_check_digest(key))

    def to_json(self, digests: bool = False) -> dict[str, Any]:
        """The snapshot as JSON-able data. Keyed digests are left out unless ``digests`` (to carry
        a snapshot between processes of the controller): output never needs them."""
        return _to_data(self, digests)

    @classmethod
    def from_json(cls, data: dict[str, Any] | str) -> HostSnapshot:
        """Read :meth:`to_json`'s data (or its JSON text) back."""
        return _from_data(cls, json.loads(data) if isinstance(data, str) else data)


@dataclass(frozen=True)
class SnapshotError:
    """Why a host has no snapshot: ``kind`` unreachable / failed / invalid (declared state) /
    no-stack; ``reason`` in words (never a value)."""

    host: str
    kind: str
    reason: str

    def __str__(self) -> str:
        return f"{self.host}: {self.kind}: {self.reason}"

    def to_json(self, digests: bool = False) -> dict[str, Any]:
        return {"host": self.host, "error": self.kind, "reason": self.reason}


def normalize_ref(ref: str) -> str:
    """An image ref as Docker resolves it (``docker.io/library/`` and ``:latest`` implied).

    >>> normalize_ref("postgres"), normalize_ref("docker.io/library/redis:7"), normalize_ref("ghcr.io/a/b:1")
    ('postgres:latest', 'redis:7', 'ghcr.io/a/b:1')
    """
    name = ref
    for prefix in ("docker.io/library/", "index.docker.io/library/", "docker.io/", "index.docker.io/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    if "@" not in name and ":" not in name.rpartition("/")[2]:
        name += ":latest"
    return name


# --- the parser ---------------------------------------------------------------------------------

_TYPES = {"regular file": "file", "regular empty file": "file", "directory": "dir", "symbolic link": "link"}
_ESCAPE = re.compile(r"\\(x[0-9a-f]{2}|.)")


def unescape(text: str) -> str:
    """Undo the report's escaping of host text (``\\\\``, ``\\t``, ``\\xHH``; bytes as UTF-8).

    >>> unescape(r"a\\tb\\\\c\\xc3\\xa9")
    'a\\tb\\\\cé'
    """
    out = bytearray()
    position = 0
    for match in _ESCAPE.finditer(text):
        out += text[position:match.start()].encode("utf-8")
        code = match.group(1)
        out += bytes([int(code[1:], 16)]) if code.startswith("x") else {"t": b"\t", "r": b"\r"}.get(code, code.encode())
        position = match.end()
    out += text[position:].encode("utf-8")
    return out.decode("utf-8", "replace")


class _Reader:
    """Collects records by type while parsing; turns them into a :class:`HostSnapshot`."""

    def __init__(self) -> None:
        self.host, self.format, self.taken_at = "", 0, None
        self.paths: dict[str, dict[str, Any]] = {}
        self.sums: dict[str, str] = {}
        self.keyed_files: dict[str, str] = {}
        self.ksums: dict[str, str] = {}
        self.env_status = "missing"
        self.env: list[tuple[int, str, bool]] = []
        self.env_bad: list[int] = []
        self.cron: dict[str, dict[str, Any]] = {}
        self.containers: list[tuple[int, list[str], str]] = []
        self.images: list[ImageState] = []
        self.engine: dict[str, Any] = {"v1_pip": []}
        self.backups: dict[str, Any] = {"status": "", "files": []}
        self.metrics: dict[str, Any] | None = None
        self.verify_metrics: dict[str, Any] | None = None
        self.release: dict[str, Any] = {"kept": [], "locked": False, "records": {}, "replaced": {}}
        self.key, self.cron_daemon, self.complete = "absent", "unknown", False
        self.warnings: list[str] = []

    def warn(self, number: int, record: str, why: str) -> None:
        self.warnings.append(f"line {number}: {record} record: {why}")


def parse_snapshot(text: str) -> HostSnapshot:
    """Read a snapshot report (the output of :func:`snapshot_script`) into a :class:`HostSnapshot`.

    Never raises on bad input: a line it cannot read becomes a warning naming the line number
    and the record type (never the line's content), and a report without its ``end`` record
    is marked incomplete.

    >>> snap = parse_snapshot("snapshot\\t1\\tdocker-1\\t1700000000\\nmissing\\t/srv/x\\nnoise\\nend\\n")
    >>> snap.host, snap.file("/srv/x").exists, snap.complete, snap.warnings
    ('docker-1', False, True, ('line 3: unknown record (5 characters)',))
    """
    reader = _Reader()
    for number, line in enumerate(text.split("\n"), start=1):
        if not line:
            continue
        record, _, rest = line.partition("\t")
        handler = _HANDLERS.get(record)
        if handler is None:
            shown = f"'{record}'" if re.fullmatch(r"[a-z0-9]{1,16}", record) and rest else "record"
            reader.warnings.append(f"line {number}: unknown {shown} ({len(line)} characters)")
            continue
        try:
            if handler(reader, rest.split("\t")) is False:
                reader.warn(number, record, f"unexpected fields ({len(rest.split(chr(9)))})")
        except (ValueError, IndexError, KeyError, TypeError):
            reader.warn(number, record, "unreadable value")
    return _build(reader)


def _fields(count: int):
    """Decorator: the handler takes exactly ``count`` fields (else the line is a warning)."""
    def wrap(function):
        def handler(reader: _Reader, parts: list[str]):
            if len(parts) != count:
                return False
            return function(reader, *parts)
        return handler
    return wrap


@_fields(3)
def _header(r: _Reader, version: str, host: str, epoch: str) -> None:
    r.format, r.host = int(version), host
    r.taken_at = int(epoch) if epoch.isdigit() else None
    if r.format != FORMAT_VERSION:
        r.warnings.append(f"report format {r.format}, this mooring reads {FORMAT_VERSION}")


@_fields(9)
def _path(r: _Reader, path: str, kind: str, mode: str, uid: str, gid: str, owner: str, group: str, size: str,
          mtime: str) -> None:
    r.paths[path] = {"exists": True, "type": _TYPES.get(kind, "other"), "mode": mode.rjust(4, "0"), "uid": int(uid),
                     "gid": int(gid), "owner": owner, "group": group, "size": int(size), "mtime": int(mtime)}


@_fields(1)
def _missing(r: _Reader, path: str) -> None:
    r.paths.setdefault(path, {"exists": False})


@_fields(1)
def _hidden(r: _Reader, path: str) -> None:
    r.paths.setdefault(path, {"exists": False, "hidden": True})


@_fields(1)
def _sha(r: _Reader, line: str) -> bool | None:
    digest, sep, path = line.partition("  ")
    if not sep or not _HEX64.match(digest):
        return False
    r.sums[path] = digest
    return None


@_fields(2)
def _ksha(r: _Reader, path: str, digest: str) -> bool | None:
    if digest not in ("unknown", "unreadable") and not _HEX64.match(digest):
        return False
    r.keyed_files[path] = digest
    return None


@_fields(1)
def _ksum(r: _Reader, line: str) -> bool | None:
    digest, sep, path = line.partition("  ")
    if not sep or not _HEX64.match(digest):
        return False
    r.ksums[posixpath.basename(path)] = digest
    return None


@_fields(1)
def _key(r: _Reader, state: str) -> bool | None:
    if state not in ("absent", "present", "malformed", "unreadable"):
        return False
    r.key = state
    return None


@_fields(1)
def _envfile(r: _Reader, status: str) -> None:
    r.env_status = status


@_fields(3)
def _env(r: _Reader, number: str, key: str, empty: str) -> bool | None:
    if not _NAME.match(key) or empty not in ("empty", "set"):
        return False
    r.env.append((int(number), key, empty == "empty"))
    return None


@_fields(1)
def _envbad(r: _Reader, number: str) -> None:
    r.env_bad.append(int(number))


@_fields(2)
def _cronfile(r: _Reader, path: str, status: str) -> None:
    r.cron[path] = {"status": status, "lines": {}}


@_fields(3)
def _cron(r: _Reader, path: str, number: str, text: str) -> None:
    r.cron[path]["lines"][int(number)] = unescape(text)


@_fields(2)
def _daemon(r: _Reader, name: str, state: str) -> bool | None:
    if name != "cron":
        return False
    r.cron_daemon = state
    return None


@_fields(1)
def _docker(r: _Reader, state: str) -> None:
    r.engine["docker"] = state


@_fields(1)
def _engine(r: _Reader, version: str) -> None:
    r.engine["engine"] = version or None


@_fields(2)
def _compose(r: _Reader, path: str, version: str) -> None:
    r.engine["compose_plugin"] = path or None
    r.engine["compose"] = version.lstrip("v") or None


@_fields(3)
def _engineerr(r: _Reader, _source: str, _number: str, text: str) -> None:
    r.engine["engine_error"] = unescape(text)


@_fields(3)
def _v1(r: _Reader, path: str, version: str, package: str) -> None:
    r.engine.update(v1_path=path, v1_version=version.lstrip("v") or None, v1_package=package or None)


@_fields(1)
def _v1pip(r: _Reader, path: str) -> None:
    r.engine["v1_pip"].append(path)


def _container(r: _Reader, parts: list[str]) -> bool | None:
    if len(parts) != len(CONTAINER_FIELDS) + 2 or parts[-1] not in ("keyed", "unknown", "none"):
        return False
    r.containers.append((int(parts[0]), [json.loads(p) for p in parts[1:-1]], parts[-1]))
    return None


@_fields(1)
def _inspectbad(r: _Reader, number: str) -> bool:
    return False


@_fields(3)
def _image(r: _Reader, tags: str, digests: str, image_id: str) -> None:
    r.images.append(ImageState(json.loads(image_id), tuple(json.loads(tags) or ()), tuple(json.loads(digests) or ())))


@_fields(1)
def _backupdir(r: _Reader, status: str) -> None:
    r.backups["status"] = status


@_fields(4)
def _backup(r: _Reader, name: str, kind: str, size: str, mtime: str) -> None:
    r.backups["files"].append(BackupFile(name, kind, int(size), int(float(mtime))))


def _metrics_records(attribute: str):
    """The two record handlers of one metrics textfile kept on the reader as ``attribute``: its
    file record (read / missing), then one record per line."""
    @_fields(2)
    def file_record(r: _Reader, path: str, status: str) -> None:
        setattr(r, attribute, {"path": path, "status": status, "lines": {}})

    @_fields(3)
    def line_record(r: _Reader, _path: str, number: str, text: str) -> bool | None:
        found = getattr(r, attribute)
        if found is None:  # a line before its file record
            return False
        found["lines"][int(number)] = unescape(text)
        return None

    return file_record, line_record


_metricsfile, _metric = _metrics_records("metrics")
_verifyfile, _verifymetric = _metrics_records("verify_metrics")


def _metrics_state(found: dict[str, Any] | None) -> MetricsState | None:
    if found is None:
        return None
    lines = found["lines"]
    return MetricsState(found["path"], found["status"], tuple(lines[n] for n in sorted(lines)))


@_fields(2)
def _release(r: _Reader, name: str, value: str) -> bool | None:
    if name not in ("current", "pending"):
        return False
    r.release[name] = value or None
    return None


@_fields(1)
def _releasebad(r: _Reader, name: str) -> None:
    r.warnings.append(f"releases/{name} holds characters a release pointer never has")


@_fields(1)
def _releasekept(r: _Reader, name: str) -> None:
    r.release["kept"].append(name)


@_fields(2)
def _releaseprev(r: _Reader, name: str, replaced: str) -> None:
    r.release["replaced"][name] = replaced


@_fields(3)
def _releaserec(r: _Reader, dirname: str, number: str, text: str) -> None:
    r.release["records"].setdefault(dirname, {})[int(number)] = unescape(text)


@_fields(1)
def _lock(r: _Reader, state: str) -> None:
    r.release["locked"] = state == "held"


@_fields(1)
def _warning(r: _Reader, text: str) -> None:
    r.warnings.append(f"host: {text}")


def _end(r: _Reader, parts: list[str]) -> None:
    r.complete = True


_HANDLERS = {
    "snapshot": _header, "path": _path, "missing": _missing, "hidden": _hidden, "sha": _sha, "ksha": _ksha, "ksum": _ksum,
    "key": _key, "envfile": _envfile, "env": _env, "envbad": _envbad, "cronfile": _cronfile, "cron": _cron,
    "daemon": _daemon, "docker": _docker, "engine": _engine, "compose": _compose, "engineerr": _engineerr,
    "v1": _v1, "v1pip": _v1pip, "container": _container, "inspectbad": _inspectbad, "image": _image, "backupdir": _backupdir, "backup": _backup,
    "metricsfile": _metricsfile, "metric": _metric, "verifyfile": _verifyfile, "verifymetric": _verifymetric, "release": _release, "releasebad": _releasebad,
    "releasekept": _releasekept, "releaseprev": _releaseprev, "releaserec": _releaserec, "lock": _lock, "warning": _warning, "end": _end,
}


def _build(r: _Reader) -> HostSnapshot:
    files = []
    for path, info in r.paths.items():
        keyed = r.keyed_files.get(path)
        if keyed is not None:
            content, digest = ("keyed", keyed) if _HEX64.match(keyed) else (keyed, None)
        else:
            content, digest = ("sha256" if path in r.sums else ""), None
        files.append(FileState(path, **info, sha256=r.sums.get(path), content=content, digest=digest))
    env = EnvState(r.env_status, tuple(EnvKey(key, number, empty, r.ksums.get(f"e.{number}"))
                                       for number, key, empty in r.env), tuple(r.env_bad))
    if r.env and r.key == "present" and not all(k.digest for k in env.keys):
        r.warnings.append("some .env lines have no keyed digest (the report was cut short?)")
    cron = tuple(CronState(path, info["status"], tuple(info["lines"][n] for n in sorted(info["lines"])))
                 for path, info in r.cron.items())
    services = []
    for number, values, config in r.containers:
        item = dict(zip(CONTAINER_FIELDS, values))
        digest = r.ksums.get(f"h.{number}") if config == "keyed" else None
        services.append(ServiceState(
            service=item["service"] or "", name=(item["name"] or "").lstrip("/"), id=item["id"] or "",
            state=item["state"] or "", health=item["health"] or "none", image_id=item["image_id"] or "",
            image=item["image"] or "", started_at=item["started_at"] or "", exit_code=item["exit_code"],
            restart_count=item["restart_count"], oneoff=item["oneoff"] == "True",
            config=config if config != "keyed" or digest else "unknown", config_digest=digest))
    metrics, verify_metrics = _metrics_state(r.metrics), _metrics_state(r.verify_metrics)
    engine = EngineState(**{**r.engine, "v1_pip": tuple(r.engine["v1_pip"])})
    records = tuple(ReleaseRecord(name, "\n".join(lines[n] for n in sorted(lines)))
                    for name, lines in sorted(r.release["records"].items()))
    release = ReleasePointer(r.release.get("current"), r.release.get("pending"), tuple(sorted(r.release["kept"])),
                             r.release["locked"], records, tuple(sorted(r.release["replaced"].items())))
    if not r.complete:
        r.warnings.append("the report has no end record: it was cut short")
    return HostSnapshot(
        host=r.host, format=r.format, taken_at=r.taken_at, files=tuple(files), env=env, cron=cron,
        cron_daemon=r.cron_daemon, services=tuple(sorted(services, key=lambda s: (s.service, s.name))),
        images=tuple(r.images), engine=engine,
        backups=BackupState(r.backups["status"], tuple(sorted(r.backups["files"], key=lambda f: f.name))),
        metrics=metrics, verify_metrics=verify_metrics, release=release, key=r.key, complete=r.complete, warnings=tuple(r.warnings),
        key_check=r.ksums.get("c.0"),
    )


# --- JSON ---------------------------------------------------------------------------------------

#: Fields holding keyed digests: left out of the JSON unless asked for.
DIGEST_FIELDS = frozenset({"digest", "config_digest", "key_check"})


def _to_data(value: Any, digests: bool) -> Any:
    if is_dataclass(value):
        return {f.name: _to_data(getattr(value, f.name), digests) for f in fields(value)
                if digests or f.name not in DIGEST_FIELDS}
    if isinstance(value, (tuple, list)):
        return [_to_data(item, digests) for item in value]
    return value  # the dataclasses hold no dicts: tuples, strings, numbers, None


def _from_data(hint: Any, data: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return None if data is None else _from_data(options[0], data)
    if origin is tuple:
        return tuple(_from_data(typing.get_args(hint)[0], item) for item in data)
    if is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        return hint(**{f.name: _from_data(hints[f.name], data[f.name]) for f in fields(hint) if f.name in data})
    return data
