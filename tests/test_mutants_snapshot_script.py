"""The snapshot script (checks/snapshot.py ``snapshot_script``) run for real with ``sh`` over a
temporary stack folder, host-free: the parsed report is what the folder holds (files, keyed
digests of secret files, the .env read line by line as the controller reads it, both metrics
textfiles, the releases and the deploy lock); it runs cleanly without any PATH or locale of the caller's; an
interrupted snapshot leaves no copy of the key behind; the docker part (a stand-in docker and
compose plugin, answering like the real ones) reads the project's own containers and every
declared image. Also: a script checker that hangs is named in its finding. Written for the
mutation run (docs/mutation.md)."""

from __future__ import annotations

import errno
import grp
import hashlib
import os
import pwd
import signal
import subprocess
import time
from pathlib import Path

import pytest

from mooring.checks.findings import Outcome
from mooring.checks.registry import run_rules
from mooring.checks.snapshot import (EnvKey, FileState, ImageState, MetricsState, PathSpec, ReleasePointer,
                                     ReleaseRecord, ServiceSpec, ServiceState, SnapshotSpec, env_line_key,
                                     expected_env_digests, keyed_digest, parse_snapshot, snapshot_script)
from mooring.declare.render import render_stack
from tests.conftest import stand_in_on_path
from tests.declared_world import model_for

#: The snapshot key the stack folder holds (64 lowercase hex characters, as the deploy writes it).
KEY = hashlib.sha256(b"mooring snapshot script tests").hexdigest().encode("ascii")
PROJECT = "mooring-script-test"
#: A .env with every way a line can be written: indented, exported, spaced around ``=``, a value
#: holding ``=``, names starting or ending with X, a form feed before or after a name (not a
#: blank for the host: a malformed line), comments, a blank line, an empty value, a CRLF line.
ENV_LINES = [
    "  LEADING=1",
    "\tTABBED = x y",
    "export EXPORTED=1",
    "XRAY=1",
    "SUFFIXX=2",
    "EQUALS=a=b",
    "\fFORMFEED=1",
    "TRAIL\f=1",
    "# COMMENTED=1",
    "",
    "EMPTY=",
    "1BAD=x",
    "WIN=1\r",
]
#: What the host reports of ENV_LINES: (line number, key) of each key line, and the malformed lines.
ENV_KEYS = [(1, "LEADING"), (2, "TABBED"), (3, "EXPORTED"), (4, "XRAY"), (5, "SUFFIXX"), (6, "EQUALS"), (11, "EMPTY"),
            (13, "WIN")]
ENV_BAD = (7, 8, 12)


def stack_spec(stack: Path, extra: tuple[PathSpec, ...] = (), services: tuple[ServiceSpec, ...] = ()) -> SnapshotSpec:
    """The spec of a stack in ``stack``: compose file (plain sha256), .env and two secret files
    (keyed digests), the key, releases, a path the host lacks, both metrics textfiles."""
    return SnapshotSpec(
        host="docker-1", project=PROJECT, stack_dir=str(stack), compose_file=str(stack / "compose.yml"),
        env_file=str(stack / ".env"), key_file=str(stack / ".mooring/snapshot.key"),
        releases_dir=str(stack / "releases"),
        paths=(PathSpec(str(stack), "dir", "dir"),
               PathSpec(str(stack / "compose.yml"), "file", "file", digest=True),
               PathSpec(str(stack / ".env"), "file", "file", secret=True, digest=True),
               PathSpec(str(stack / "secrets/db_password"), "file", "file", secret=True, digest=True),
               PathSpec(str(stack / "secrets/jwt_secret"), "file", "file", secret=True, digest=True),
               PathSpec(str(stack / ".mooring/snapshot.key"), "file", "key"),
               PathSpec(str(stack / "releases"), "dir", "releases"),
               PathSpec(str(stack / "nginx/absent.conf"), "file", "file", digest=True),
               PathSpec(str(stack / "metrics/backup.prom"), "file", "metrics"),
               PathSpec(str(stack / "metrics/verify.prom"), "file", "metrics"),
               *extra),
        env_keys=(), services=services,
        metrics_file=str(stack / "metrics/backup.prom"), verify_metrics_file=str(stack / "metrics/verify.prom"))


def lay_out_stack(stack: Path, locked: bool) -> None:
    """Write the stack folder (with its key; a deploy lock when ``locked``)."""
    for folder in ("secrets", ".mooring", "releases", "metrics"):
        (stack / folder).mkdir(parents=True, exist_ok=True)
    (stack / "compose.yml").write_bytes(b"services:\n  web:\n    image: nginx:1.27\n")
    (stack / ".env").write_bytes("\n".join(ENV_LINES + [""]).encode("utf-8"))
    (stack / "secrets/db_password").write_bytes(b"Pg5-not-a-real-password\n")
    (stack / "secrets/jwt_secret").write_bytes(b"jwt-not-a-real-secret")
    (stack / ".mooring/snapshot.key").write_bytes(KEY)
    for path in (stack / ".env", stack / "secrets/db_password", stack / "secrets/jwt_secret",
                 stack / ".mooring/snapshot.key"):
        path.chmod(0o600)
    (stack / "metrics/backup.prom").write_text('mooring_backup_consecutive_failures{stack="s"} 0\n')
    (stack / "metrics/verify.prom").write_text('# TYPE mooring_backup_last_verify_success gauge\n'
                                               'mooring_backup_last_verify_success{stack="s"} 1\n')
    for name in ("0001-aaa", "0002-abc", "0003-def"):
        (stack / "releases" / name).mkdir()
    (stack / "releases/0002-abc/record.json").write_text('{"release": "0002-abc", "services": ["web"]}\n')
    (stack / "releases/current").write_text("0002-abc\n")
    (stack / "releases/pending").write_text("0003-def 42")  # no newline at its end: still read
    if locked:
        (stack / ".mooring/lock").mkdir()


def run(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run ``script`` with ``/bin/sh`` exactly as given (no environment but ``env``)."""
    return subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, timeout=60, cwd=cwd, env=env,
                          stdin=subprocess.DEVNULL)


def on_disk(path: Path, secret: bool, digest: bool) -> FileState:
    """What the snapshot must report of ``path``, read here with ``os.stat``."""
    if not path.exists():
        return FileState(str(path), False)
    info = path.stat()
    kind = "dir" if path.is_dir() else "file"
    data = path.read_bytes() if kind == "file" and digest else None
    return FileState(
        str(path), True, kind, format(info.st_mode & 0o7777, "o").rjust(4, "0"), pwd.getpwuid(info.st_uid).pw_name,
        grp.getgrgid(info.st_gid).gr_name, info.st_uid, info.st_gid, info.st_size, int(info.st_mtime),
        sha256=hashlib.sha256(data).hexdigest() if data is not None and not secret else None,
        content=("keyed" if secret else "sha256") if data is not None else "",
        digest=keyed_digest(KEY, data) if data is not None and secret else None)


# --- a stack folder, read whole -----------------------------------------------------------------------

@pytest.mark.parametrize("locked", [True, False], ids=["deploy-lock-held", "no-deploy-lock"])
def test_the_snapshot_of_a_stack_folder_is_what_the_folder_holds(tmp_path: Path, locked: bool) -> None:
    """Every watched path as ``stat`` sees it (the ordinary file's sha256, each secret file's
    keyed digest), the key proven to be the expected one, both metrics textfiles line by line,
    the release pointers, kept releases and their records, the deploy lock of this stack (not
    of the folder the command runs in), no warning, nothing on stderr. Run from another
    folder, with the caller's PATH and locale."""
    stack = tmp_path / "stack"
    lay_out_stack(stack, locked)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    spec = stack_spec(stack)
    out = run(snapshot_script(spec), elsewhere, {**os.environ, "TMPDIR": str(elsewhere)})
    assert (out.returncode, out.stderr) == (0, "")
    snap = parse_snapshot(out.stdout)
    assert (snap.host, snap.complete, snap.warnings, snap.key, snap.key_matches(KEY)) == (
        "docker-1", True, (), "present", True)
    assert {f.path: f for f in snap.files} == {
        p.path: on_disk(Path(p.path), p.secret, p.digest) for p in spec.paths}
    assert snap.file(str(stack / "secrets/jwt_secret")).digest == keyed_digest(KEY, b"jwt-not-a-real-secret")
    assert (snap.metrics, snap.verify_metrics) == (
        MetricsState(str(stack / "metrics/backup.prom"), "read", ('mooring_backup_consecutive_failures{stack="s"} 0',)),
        MetricsState(str(stack / "metrics/verify.prom"), "read", ("# TYPE mooring_backup_last_verify_success gauge",
                                                                 'mooring_backup_last_verify_success{stack="s"} 1')))
    assert snap.verify_metrics.samples() == {'mooring_backup_last_verify_success{stack="s"}': 1.0}
    assert snap.release == ReleasePointer(
        "0002-abc", "0003-def 42", ("0001-aaa", "0002-abc", "0003-def"), locked,
        (ReleaseRecord("0002-abc", '{"release": "0002-abc", "services": ["web"]}'),))
    assert snap.release.record("0002-abc") == {"release": "0002-abc", "services": ["web"]}
    assert list(elsewhere.iterdir()) == [], "the private temporary folder is removed on exit"


def test_the_controller_reads_each_env_line_as_the_host_does(tmp_path: Path) -> None:
    """For every way a .env line can be written, the host's awk and the controller's
    ``env_line_key`` agree on the key it sets (or that it sets none), and the digests the
    host prints are the ones the controller expects: no key is reported changed or missing
    because the two sides read a line differently."""
    stack = tmp_path / "stack"
    lay_out_stack(stack, locked=False)
    out = run(snapshot_script(stack_spec(stack)), tmp_path, {**os.environ, "TMPDIR": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    snap = parse_snapshot(out.stdout)
    env_text = (stack / ".env").read_bytes().decode("utf-8")  # no newline translation: keep the \r
    assert [(k.line, k.key) for k in snap.env.keys] == ENV_KEYS
    assert snap.env.bad_lines == ENV_BAD
    assert [(n, env_line_key(line)) for n, line in enumerate(env_text.split("\n"), start=1) if env_line_key(line)] \
        == ENV_KEYS
    expected = expected_env_digests(env_text, KEY)
    assert {k.key: k.digest for k in snap.env.keys} == expected
    assert all(snap.env.differs(name, expected) is False for _, name in ENV_KEYS)
    assert [k for k in snap.env.keys if k.empty] == [EnvKey("EMPTY", 11, True, expected["EMPTY"])]


@pytest.mark.parametrize("line, key", [
    ("\u00a0NBSP=1", None),  # a no-break space is no blank for the host
    ("\vVTAB=1", None),
    ("NAME\u00a0=1", None),
    ("XX#XX=1", None),
    ("X=1", "X"),
    ("export\tX_1\t=\t2", "X_1"),
    ("  # X=1", None),
])
def test_env_line_key_blanks_are_spaces_and_tabs_only(line: str, key: str | None) -> None:
    """Only spaces and tabs are blanks around a name (as for the host's awk): any other
    character makes the line malformed, never a key."""
    assert env_line_key(line) == key


# --- the environment the script runs in ---------------------------------------------------------------

FAKE_DOCKER = """#!/bin/sh
# A stand-in docker CLI: the engine answers; ps lists the containers of project {project} only;
# inspect answers for those containers and the images the host has, an error for any other ref.
printf '%s|umask=%s|LC_ALL=%s\\n' "$*" "$(umask)" "${{LC_ALL-unset}}" >> {calls}
case $1 in
version) echo 27.3.1 ;;
ps) if [ "$5" = "label=com.docker.compose.project={project}" ]; then printf 'id-web\\nid-db\\n'; fi ;;
inspect)
	shift 3  # inspect --format FMT
	[ "$1" = -- ] && shift
	rc=0
	for ref in "$@"; do
		case $ref in
{answers}
		*) echo "Error: No such object: $ref" >&2; rc=1 ;;
		esac
	done
	exit $rc ;;
esac
"""
FAKE_COMPOSE = """#!/bin/sh
printf 'compose %s|umask=%s|LC_ALL=%s\\n' "$*" "$(umask)" "${{LC_ALL-unset}}" >> {calls}
if [ "$*" = "version --short" ]; then echo 2.29.7; fi
"""
T = "\t"
#: What docker inspect prints, with the script's format, for each container and image the host has.
INSPECT = {
    "id-web": T.join(["C", '"/mooring-script-test-web-1"', '"id-web"', '"web"', '"running"', '"healthy"',
                      '"sha256:web"', '"nginx:1.27"', '"2026-01-01T00:00:00Z"', "0", "2", '"False"', '"hash-of-web"']),
    "id-db": T.join(["C", '"/mooring-script-test-db-1"', '"id-db"', '"db"', '"exited"', '"none"',
                     '"sha256:db"', '"postgres:16"', '"2026-01-02T00:00:00Z"', "137", "0", '"False"', "null"]),
    "nginx:1.27": T.join(["I", '["nginx:1.27"]', '["nginx@sha256:' + "a" * 64 + '"]', '"sha256:web"']),
    "postgres:16": T.join(["I", '["postgres:16","postgres:latest"]', "[]", '"sha256:db"']),
}
SERVICES = (ServiceSpec("web", "nginx:1.27", True, "always"), ServiceSpec("db", "postgres:16", False, "always"),
            ServiceSpec("cache", "redis:7", False, "always"))  # redis:7: declared, not on the host


def stand_ins(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A folder holding the stand-in docker, a home with the stand-in compose plugin where the
    docker CLI looks first (``$HOME/.docker/cli-plugins``), and the file they log calls to."""
    bin_dir, home, calls = tmp_path / "bin", tmp_path / "home", tmp_path / "calls"
    answers = "\n".join(f"\t\t'{ref}') printf '%s\\n' '{line}' ;;" for ref, line in INSPECT.items())
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(FAKE_DOCKER.format(project=PROJECT, calls=calls, answers=answers))
    plugin = home / ".docker/cli-plugins/docker-compose"
    plugin.parent.mkdir(parents=True)
    plugin.write_text(FAKE_COMPOSE.format(calls=calls))
    for program in (bin_dir / "docker", plugin):
        program.chmod(0o755)
    return bin_dir, home, calls


def test_the_docker_part_reads_the_projects_containers_and_every_declared_image(tmp_path: Path) -> None:
    """Run with no PATH and no LC_ALL of the caller's (a bare remote shell): the script's own PATH
    reaches every program it starts, even the ``docker inspect`` that xargs runs; every docker
    call runs under umask 077 in the C locale. The report holds the engine's and the compose
    plugin's versions, each container of this compose project (its config-hash label keyed)
    and each declared image the host has."""
    stack = tmp_path / "stack"
    lay_out_stack(stack, locked=False)
    bin_dir, home, calls = stand_ins(tmp_path)
    script = snapshot_script(stack_spec(stack, services=SERVICES))
    assert script.count("\nPATH=/usr/local/sbin:") == 1
    script = script.replace("\nPATH=/usr/local/sbin:", f"\nPATH={bin_dir}:/usr/local/sbin:")
    out = run(script, tmp_path, {"HOME": str(home), "TMPDIR": str(tmp_path), "LANG": "C.UTF-8"})
    assert (out.returncode, out.stderr) == (0, "")
    snap = parse_snapshot(out.stdout)
    assert (snap.complete, snap.warnings) == (True, ())
    engine = snap.engine
    assert (engine.docker, engine.engine, engine.engine_error, engine.compose, engine.compose_plugin) == (
        "present", "27.3.1", "", "2.29.7", str(home / ".docker/cli-plugins/docker-compose"))
    assert snap.services == (
        ServiceState("db", "mooring-script-test-db-1", "id-db", "exited", "none", "sha256:db", "postgres:16",
                     "2026-01-02T00:00:00Z", 137, 0, False, "none", None),
        ServiceState("web", "mooring-script-test-web-1", "id-web", "running", "healthy", "sha256:web", "nginx:1.27",
                     "2026-01-01T00:00:00Z", 0, 2, False, "keyed", keyed_digest(KEY, "hash-of-web")))
    assert snap.images == (ImageState("sha256:web", ("nginx:1.27",), ("nginx@sha256:" + "a" * 64,)),
                           ImageState("sha256:db", ("postgres:16", "postgres:latest"), ()))
    assert (snap.image_id("redis:7"), snap.image_id("docker.io/library/postgres:16")) == (None, "sha256:db")
    logged = calls.read_text().splitlines()
    assert sorted(line.split("|")[0].split(" ")[0] for line in logged) == ["compose", "inspect", "ps", "version"]
    assert all(line.endswith("|umask=0077|LC_ALL=C") for line in logged), logged
    [inspect] = [line.split("|")[0] for line in logged if line.startswith("inspect ")]
    assert inspect.endswith(" -- nginx:1.27 postgres:16 redis:7 id-web id-db")


# --- an interrupted snapshot ----------------------------------------------------------------------------

def writer_once_read(fifo: Path, deadline: float) -> int:
    """Open ``fifo`` for writing as soon as the script has opened it for reading."""
    while True:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM], ids=["hangup", "terminate"])
def test_an_interrupted_snapshot_leaves_no_copy_of_the_key_behind(tmp_path: Path, signum: int) -> None:
    """The connection drops (HUP) or the snapshot is stopped (TERM) while it reads files: the
    script exits 1 and its private temporary folder, which holds a copy of the snapshot key, is
    removed. A watched FIFO holds the script in its ``sha256sum`` until the signal is sent."""
    stack = tmp_path / "stack"
    lay_out_stack(stack, locked=False)
    fifo = stack / "slow.fifo"
    os.mkfifo(fifo)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    spec = stack_spec(stack, extra=(PathSpec(str(fifo), "file", "file", digest=True),))
    proc = subprocess.Popen(["/bin/sh", "-c", snapshot_script(spec)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env={**os.environ, "TMPDIR": str(scratch)},
                            start_new_session=True)
    try:
        writer = writer_once_read(fifo, time.monotonic() + 30)
        assert [p.name for p in scratch.iterdir()] != [], "the script made its private folder"
        os.kill(proc.pid, signum)
        time.sleep(0.2)
        os.close(writer)
        out, _err = proc.communicate(timeout=30)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the script's own background jobs, if any remain
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)
    assert proc.returncode == 1
    assert list(scratch.iterdir()) == []
    assert not parse_snapshot(out.decode()).complete


# --- a script checker that hangs ---------------------------------------------------------------------

def test_a_hung_sh_n_is_named_in_each_scripts_finding(world, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``sh -n`` that does not finish within MOORING_CHECKER_TIMEOUT: one ERROR per rendered
    script, saying which tool (``sh``) did not finish and the bound."""
    from mooring.checks.rules import render

    monkeypatch.setattr(render, "_TOOL_CACHE", {})
    stand_in_on_path(tmp_path, monkeypatch, "sh", "exec sleep 30", folder="slowbin")
    monkeypatch.setenv("MOORING_CHECKER_TIMEOUT", "0.5")
    model = model_for("sandbox")
    rendered = render_stack(model)
    found = run_rules(model, model.stack, rendered, names=["render.shell_syntax"])
    scripts = [script.path for script in rendered.scripts()]
    assert scripts
    assert [(f.outcome, f.path, f.message) for f in found] == [
        (Outcome.ERROR, "stack.backups", f"{path}: sh did not finish within 0.5 s") for path in scripts]
