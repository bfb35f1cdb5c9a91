"""The host snapshot: spec, generated script, parser, keyed digests, and the snapshot of real boxes.

Host-free tests run the generated script for real on this machine, over a copy of the sandbox
stack's files relocated under a temporary folder (every path of the spec gets the folder as a
prefix), so the records, escaping and digests are those of the real script. Box tests deploy
the reference stack, snapshot both boxes through pyinfra (``python -m mooring.snapshots``, a
child process: gathering monkey-patches its process for gevent), then change a box for real
and check that the snapshot shows each change.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mooring.checks.snapshot import (HostSnapshot, PathSpec, SnapshotSpec, expected_config_digests, expected_env_digests,
                             expected_file_digests, key_check_digest, keyed_digest, parse_snapshot, snapshot_key,
                             snapshot_script, snapshot_spec, unescape)
from tests.conftest import CANARIES, CANARY_JWT, ROOT, SECRET_ENV, SERVICES_SETTLED, ssh

STACK_DIR = "/srv/mooring/solacore"
ENV_FILE = f"{STACK_DIR}/.env"
NGINX_CONF = f"{STACK_DIR}/nginx/conf.d/default.conf"
CRON_FILE = "/etc/cron.d/mooring-solacore"
KEY_FILE = f"{STACK_DIR}/.mooring/snapshot.key"


def leaked(*texts: str) -> list[str]:
    return [canary for canary in CANARIES if any(canary in text for text in texts)]


@pytest.fixture
def canary_world(world, monkeypatch):
    """The test world with the session's canary secrets (quotes, $, \\, spaces) in the sandbox stack."""
    for name, value in SECRET_ENV.items():
        monkeypatch.setenv(name, value)
    return world


def sandbox():
    """(model, rendered stack, spec) of the sandbox's first host in the active world."""
    from mooring.declare.render import render_stack
    from tests.declared_world import model_for

    model = model_for("sandbox")
    rendered = render_stack(model)
    return model, rendered, snapshot_spec(model, rendered)


# --- running the real script over a relocated copy of the stack ---------------------------------

def relocate(spec: SnapshotSpec, root: Path, project: str = "mooring-snapshot-test") -> SnapshotSpec:
    """``spec`` with every path under ``root`` and its own compose project (no container has it)."""
    def moved(path):
        return None if path is None else f"{root}{path}"

    return dataclasses.replace(
        spec, project=project, stack_dir=moved(spec.stack_dir), compose_file=moved(spec.compose_file),
        env_file=moved(spec.env_file), key_file=moved(spec.key_file), releases_dir=moved(spec.releases_dir),
        paths=tuple(dataclasses.replace(p, path=moved(p.path)) for p in spec.paths),
        cron_files=tuple(moved(p) for p in spec.cron_files), backup_dir=moved(spec.backup_dir),
        backup_log=moved(spec.backup_log), metrics_file=moved(spec.metrics_file),
        verify_metrics_file=moved(spec.verify_metrics_file),
        services=tuple(dataclasses.replace(s, image=f"mooring-snapshot-test/absent-{s.name}:0") for s in spec.services))


def lay_out(rendered, root: Path, key: bytes | None) -> None:
    """Write the rendered stack under ``root`` with its declared modes (and the snapshot key)."""
    for directory in rendered.directories:
        path = Path(f"{root}{directory.path}")
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(int(directory.mode, 8))
    for item in rendered.files:
        path = Path(f"{root}{item.path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(item.content)
        path.chmod(int(item.mode, 8))
    if key is not None:
        path = Path(f"{root}{rendered.files[0].path.rsplit('/', 1)[0]}/.mooring/snapshot.key")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(key)
        path.chmod(0o600)


def run_script(spec: SnapshotSpec) -> subprocess.CompletedProcess:
    out = subprocess.run(["sh", "-c", snapshot_script(spec)], capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    return out


@pytest.fixture
def local(canary_world, tmp_path):
    """The sandbox stack laid out under a temporary folder with a snapshot key, and its spec."""
    model, rendered, spec = sandbox()
    key = snapshot_key("docker-1", STACK_DIR)
    root = tmp_path / "host"
    lay_out(rendered, root, key)
    return {"model": model, "rendered": rendered, "spec": relocate(spec, root), "root": root, "key": key}


def moved(local, path: str) -> str:
    return f"{local['root']}{path}"


# --- the spec -------------------------------------------------------------------------------------

def test_spec_watches_every_managed_path_with_its_declared_ownership(canary_world):
    model, rendered, spec = sandbox()
    for directory in rendered.directories:
        watched = spec.path(directory.path)
        assert dataclasses.replace(watched, read_only=False) == PathSpec(
            directory.path, "dir", "dir", directory.mode, directory.owner, directory.group)
    for item in rendered.files:
        watched = spec.path(item.path)
        assert (watched.kind, watched.mode, watched.owner, watched.group, watched.secret, watched.digest) == (
            "file", item.mode, item.owner, item.group, item.secret, True)
    assert spec.path(ENV_FILE).secret and not spec.path(NGINX_CONF).secret
    assert spec.path(f"{STACK_DIR}/nginx/conf.d").read_only  # the read-only bind-mount source
    key = spec.path(KEY_FILE)
    assert (key.role, key.mode, key.owner, key.digest) == ("key", "0600", "root", False)  # never hashed
    assert spec.cron_files == (CRON_FILE,) and spec.backup_dir == "/var/backups/mooring/solacore"
    assert spec.backup_patterns == ("solacore__readme_to_recover_" + "[0-9]" * 8 + "T" + "[0-9]" * 6 + "Z.sql.gz",)
    assert spec.releases_dir == f"{STACK_DIR}/releases" and spec.project == "solacore"
    assert spec.metrics_file.endswith("/mooring-backup-solacore.prom")


def test_spec_says_which_env_keys_are_required(canary_world):
    model, _, spec = sandbox()
    keys = {k.key: k for k in spec.env_keys}
    assert set(keys) == set(model.stack.env)
    assert keys["DATABASE_URL"].required and keys["POSTGRES_PASSWORD"].required and keys["POSTGRES_PASSWORD"].secret
    assert not keys["APP_VERSION"].required and keys["APP_VERSION"].services == ("api",)


def test_spec_is_hashable_and_round_trips_through_json(canary_world):
    _, _, spec = sandbox()
    assert hash(spec) == hash(SnapshotSpec.from_json(json.dumps(spec.to_json())))
    assert SnapshotSpec.from_json(spec.to_json()) == spec
    assert str(spec) == f"SnapshotSpec(docker-1:{STACK_DIR})"  # how pyinfra logs the fact's argument
    assert not leaked(json.dumps(spec.to_json()), repr(spec))


def test_a_name_the_report_cannot_carry_is_refused_naming_where_it_comes_from(canary_world):
    from mooring.declare.errors import ConfigError
    from mooring.declare.model import build_model
    from mooring.declare.render import render_stack

    model = build_model("docker\t1", ["sandbox"])  # the schema checks declared paths; a host name is the inventory's
    with pytest.raises(ConfigError) as raised:
        snapshot_spec(model, render_stack(model))
    assert "inventory: 'docker\\t1' (host name)" in str(raised.value) and "control character" in str(raised.value)


# --- the script -----------------------------------------------------------------------------------

def test_script_passes_shellcheck_and_sh_n(canary_world, tmp_path):
    _, _, spec = sandbox()
    script = tmp_path / "snapshot.sh"
    script.write_text(snapshot_script(spec))
    assert shutil.which("shellcheck"), "shellcheck is not installed: run bin/prepare-host"
    checked = subprocess.run(["shellcheck", "-s", "sh", str(script)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout
    syntax = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr


def test_script_holds_no_secret_and_never_the_key(canary_world):
    _, _, spec = sandbox()
    script = snapshot_script(spec)
    assert not leaked(script)
    assert snapshot_key("docker-1", STACK_DIR).decode() not in script
    assert "digest.key" not in script


def test_snapshot_of_a_stack_as_rendered(local):
    out = run_script(local["spec"])
    snap = parse_snapshot(out.stdout)
    assert snap.complete and snap.warnings == () and snap.host == "docker-1" and snap.key == "present"
    assert snap.key_matches(local["key"]) and not snap.key_matches(b"0" * 64)
    expected = expected_file_digests(local["rendered"], local["key"])
    for item in local["rendered"].files:
        state = snap.file(moved(local, item.path))
        assert state.exists and state.type == "file" and state.mode == item.mode, state
        assert (state.digest if item.secret else state.sha256) == expected[item.path], item.path
        assert state.content == ("keyed" if item.secret else "sha256") and (state.sha256 is None) == item.secret
    for directory in local["rendered"].directories:
        assert snap.file(moved(local, directory.path)).type == "dir"
    env = expected_env_digests(local["model"].stack, local["key"])
    assert set(snap.env.names()) == set(local["model"].stack.env) and snap.env.status == "read"
    assert not [k for k in env if snap.env.differs(k, env) is not False]
    assert not [k.key for k in snap.env.keys if k.empty] and snap.env.bad_lines == ()
    assert snap.file(moved(local, KEY_FILE)).sha256 is None and snap.file(moved(local, KEY_FILE)).digest is None
    assert [c.status for c in snap.cron] == ["read"]
    assert not snap.file(moved(local, "/var/log/mooring-solacore-backup.log")).exists
    assert snap.metrics.status == "missing" and snap.backups.status == "listed" and snap.backups.files == ()
    assert snap.services == () and snap.release.current is None and not snap.release.locked
    assert not leaked(out.stdout, out.stderr, json.dumps(snap.to_json()), json.dumps(snap.to_json(True)))


def test_cron_lines_come_back_exactly(local):
    out = run_script(local["spec"])
    snap = parse_snapshot(out.stdout)
    cron = next(c for c in snap.cron if c.path == moved(local, CRON_FILE))
    assert cron.status == "read"
    assert "\n".join(cron.lines) + "\n" == local["rendered"].file(CRON_FILE).content


def test_changes_on_the_host_show_in_the_snapshot(local):
    env_path = Path(moved(local, ENV_FILE))
    lines = env_path.read_text().splitlines()
    changed = [line for line in lines if not line.startswith("REDIS_URL=")]  # deleted
    changed = ["APP_VERSION=" if line.startswith("APP_VERSION=") else line for line in changed]  # emptied
    changed = ["PORT=8001" if line.startswith("PORT=") else line for line in changed]  # changed
    changed += ["not a key line", "PORT=8001"]  # malformed; a duplicate
    env_path.write_text("\n".join(changed) + "\n")
    env_path.chmod(0o644)
    conf = Path(moved(local, NGINX_CONF))
    conf.write_text(conf.read_text() + "# edited on the host\n")
    Path(moved(local, CRON_FILE)).unlink()
    link = Path(moved(local, f"{STACK_DIR}/bin/restore.sh"))
    link.unlink()
    link.symlink_to("/bin/true")
    dump_dir = Path(moved(local, "/var/backups/mooring/solacore"))
    (dump_dir / "solacore__readme_to_recover_20261126T020000Z.sql.gz").write_bytes(b"x" * 10)
    (dump_dir / "solacore__readme_to_recover_20261127T020000Z.sql.gz.partial").write_bytes(b"")
    (dump_dir / "other__db_20261126T020000Z.sql.gz").write_bytes(b"not ours")

    snap = parse_snapshot(run_script(local["spec"]).stdout)
    expected = expected_env_digests(local["model"].stack, local["key"])
    assert snap.env.key("REDIS_URL") is None
    assert snap.env.key("APP_VERSION").empty and snap.env.differs("APP_VERSION", expected)
    assert snap.env.differs("PORT", expected) and snap.env.duplicates() == ("PORT",)
    assert snap.env.differs("POSTGRES_USER", expected) is False
    assert snap.env.bad_lines == (len(changed) - 1,)
    assert snap.file(moved(local, ENV_FILE)).mode == "0644"
    assert snap.file(moved(local, NGINX_CONF)).sha256 != expected_file_digests(local["rendered"])[NGINX_CONF]
    assert not snap.file(moved(local, CRON_FILE)).exists
    assert [c.status for c in snap.cron] == ["missing"]
    assert snap.file(str(link)).type == "link"
    assert [(f.name, f.kind) for f in snap.backups.files] == [
        ("solacore__readme_to_recover_20261126T020000Z.sql.gz", "dump"),
        ("solacore__readme_to_recover_20261127T020000Z.sql.gz.partial", "partial")]  # never another stack's
    assert snap.backups.dumps()[0].size == 10


def test_without_a_key_digests_are_unknown_and_nothing_keyed_is_printed(local):
    Path(moved(local, KEY_FILE)).unlink()
    out = run_script(local["spec"])
    snap = parse_snapshot(out.stdout)
    assert snap.key == "absent" and snap.key_matches(local["key"]) is None
    assert all(k.digest is None for k in snap.env.keys) and snap.env.keys
    env = snap.file(moved(local, ENV_FILE))
    assert env.content == "unknown" and env.digest is None and env.sha256 is None
    assert "ksum\t" not in out.stdout and snap.warnings == ()


@pytest.mark.parametrize("content", [b"", b"abc", b"g" * 64, b"a" * 64 + b"\nmore\n", b"A" * 64])
def test_a_malformed_key_is_reported_and_never_used(local, content):
    Path(moved(local, KEY_FILE)).write_bytes(content)
    snap = parse_snapshot(run_script(local["spec"]).stdout)
    assert snap.key == "malformed" and all(k.digest is None for k in snap.env.keys)


def test_a_key_with_a_trailing_newline_still_gives_comparable_digests(local):
    Path(moved(local, KEY_FILE)).write_bytes(local["key"] + b"\n")
    snap = parse_snapshot(run_script(local["spec"]).stdout)
    expected = expected_file_digests(local["rendered"], local["key"])
    assert snap.key == "present" and snap.key_matches(local["key"])
    assert snap.file(moved(local, ENV_FILE)).digest == expected[ENV_FILE]


def test_host_text_is_escaped_so_records_stay_whole(local):
    cron = Path(moved(local, CRON_FILE))
    cron.write_bytes(b"a\ttab\\back\rcr \xc3\xa9 \xff\x01end\nsecond\tline\n")
    metrics = Path(local["spec"].metrics_file)
    metrics.parent.mkdir(parents=True, exist_ok=True)
    metrics.write_text('# HELP x y\nmooring_backup_last_success_timestamp_seconds{stack="solacore"} 1.7e9\nbad line\n')
    out = run_script(local["spec"])
    out.stdout.encode("ascii")  # only ASCII leaves the host: any byte is escaped
    snap = parse_snapshot(out.stdout)
    assert snap.cron[0].lines == ("a\ttab\\back\rcr é \ufffd\x01end", "second\tline")
    assert snap.metrics.status == "read" and snap.metrics.samples() == {
        'mooring_backup_last_success_timestamp_seconds{stack="solacore"}': 1.7e9}
    assert snap.warnings == ()


def test_unescape_reverses_every_escape():
    assert unescape(r"\\t\t\x41\\\\") == "\\t\tA\\\\"


# --- the parser -----------------------------------------------------------------------------------

def test_garbage_becomes_warnings_never_content(local):
    out = run_script(local["spec"]).stdout
    lines = out.splitlines()
    lines.insert(3, f"JWT_SECRET={CANARY_JWT}")  # as if a tool had printed a value: never quoted back
    lines.insert(4, "path\tonly-two-fields")
    lines.insert(5, "env\tx\tKEY\tset")
    lines.insert(6, "env\t7\tbad key\tset")
    lines.insert(7, "container\t1\tnot json")
    lines.insert(8, "zzz\tunknown record")
    snap = parse_snapshot("\n".join(lines) + "\n")
    assert len(snap.warnings) == 6 and snap.complete
    assert any("'zzz'" in w for w in snap.warnings) and any("path record" in w for w in snap.warnings)
    assert not leaked(*snap.warnings, json.dumps(snap.to_json()))
    assert snap.file(moved(local, ENV_FILE)).exists  # the rest is read as usual


SAMPLE = """snapshot\t1\tdocker-1\t1700000000
path\t/srv/mooring/solacore/.env\tregular file\t600\t0\t0\troot\troot\t650\t1700000000
missing\t/etc/cron.d/mooring-solacore
key\tpresent
envfile\tread
env\t2\tAPP_VERSION\tset
ksha\t/srv/mooring/solacore/.env\t""" + "a" * 64 + """
cronfile\t/etc/cron.d/mooring-solacore\tread
cron\t/etc/cron.d/mooring-solacore\t1\ta\\tb
container\t1\t"/x-api-1"\t"id"\t"api"\t"running"\t"healthy"\t"sha256:1"\t"api:1"\t"t"\t0\t0\t"False"\tkeyed
image\t["api:1"]\t[]\t"sha256:1"
ksum\t""" + "b" * 64 + """  /tmp/x/e.2
ksum\t""" + "c" * 64 + """  /tmp/x/h.1
backup\tsolacore__db_20261126T020000Z.sql.gz\tf\t10\t1.5
release\tcurrent\t0001-abc
end
"""


def test_every_record_of_the_sample_is_read():
    snap = parse_snapshot(SAMPLE)
    assert snap.warnings == () and snap.complete and snap.env.key("APP_VERSION").digest == "b" * 64
    assert snap.file("/srv/mooring/solacore/.env").digest == "a" * 64 and snap.cron[0].lines == ("a\tb",)
    assert snap.service("api").config_digest == "c" * 64 and snap.image_id("api:1") == "sha256:1"
    assert snap.backups.dumps()[0].mtime == 1 and snap.release.current_number == 1


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=SAMPLE.count("\n")), max_size=6),
       st.lists(st.text(alphabet=st.characters(codec="utf-8"), max_size=40), max_size=6), st.integers(0, 400))
def test_any_damage_to_a_report_is_warnings_never_an_exception(dropped, noise, cut):
    lines = [line for number, line in enumerate(SAMPLE.split("\n")) if number not in dropped] + noise
    for text in ("\n".join(lines), SAMPLE[:cut], "\t".join(noise)):
        snap = parse_snapshot(text)
        assert isinstance(snap, HostSnapshot)
        HostSnapshot.from_json(json.dumps(snap.to_json(True)))


def test_a_report_cut_short_is_incomplete():
    snap = parse_snapshot("snapshot\t1\tdocker-1\t1\nmissing\t/x\n")
    assert not snap.complete and any("cut short" in w for w in snap.warnings)
    assert parse_snapshot("").warnings  # nothing at all: still a value, with warnings


def test_json_round_trip_and_digests_kept_out_by_default(local):
    snap = parse_snapshot(run_script(local["spec"]).stdout)
    full = json.loads(json.dumps(snap.to_json(True)))
    assert HostSnapshot.from_json(full) == snap
    shown = json.dumps(snap.to_json())
    digests = [k.digest for k in snap.env.keys] + [snap.key_check, snap.file(moved(local, ENV_FILE)).digest]
    assert all(digests) and not [d for d in digests if d in shown]
    again = HostSnapshot.from_json(shown)
    assert again.env.names() == snap.env.names() and again.key_check is None
    assert again.file(moved(local, ENV_FILE)).mode == "0600"


def test_digests_are_keyed_per_host_and_key():
    key_1, key_2 = snapshot_key("docker-1", STACK_DIR), snapshot_key("docker-2", STACK_DIR)
    assert len(key_1) == 64 and key_1 != key_2 and key_1 != snapshot_key("docker-1", "/srv/other")
    assert key_1 == snapshot_key("docker-1", STACK_DIR)
    assert keyed_digest(key_1, "A=1") == hashlib.sha256(key_1 + b"A=1").hexdigest() != keyed_digest(key_2, "A=1")
    assert key_check_digest(key_1) != key_check_digest(key_2)


def test_expected_config_digests_are_keyed_compose_hashes(canary_world):
    model, rendered, _ = sandbox()
    key = snapshot_key("docker-1", STACK_DIR)
    digests = expected_config_digests(model.stack, rendered, key)
    assert set(digests) == set(model.stack.services) and all(len(d) == 64 for d in digests.values())
    assert digests != expected_config_digests(model.stack, rendered, b"0" * 64)


def test_compose_hashes_a_stack_rendered_alike_once(canary_world, monkeypatch):
    """30 hosts rendered alike cost one ``config --hash`` (the profile in docs/performance.md),
    each still with its own keyed digests; a different rendering asks Compose again."""
    import dataclasses

    from mooring.checks import snapshot

    model, rendered, _ = sandbox()
    calls = []
    real = snapshot._compose_config_hashes
    monkeypatch.setattr(snapshot, "_CONFIG_HASHES", {})
    monkeypatch.setattr(snapshot, "_compose_config_hashes", lambda *a: calls.append(a) or real(*a))
    first = expected_config_digests(model.stack, rendered, snapshot_key("docker-1", STACK_DIR))
    second = expected_config_digests(model.stack, rendered, snapshot_key("docker-2", STACK_DIR))
    assert len(calls) == 1 and set(first) == set(second) and first != second
    compose = rendered.file(model.stack.compose_file)
    edited = dataclasses.replace(rendered, files=[dataclasses.replace(f, content=f.content + "# edited\n")
                                                  if f is compose else f for f in rendered.files])
    expected_config_digests(model.stack, edited, snapshot_key("docker-1", STACK_DIR))
    assert len(calls) == 2


def test_the_fact_runs_the_script_and_parses_it(local):
    from mooring.deploy.facts.snapshot import StackSnapshot

    spec = local["spec"]
    fact = StackSnapshot()
    assert fact.command(spec=spec) == snapshot_script(spec) == fact.command(spec=json.dumps(spec.to_json()))
    lines = run_script(spec).stdout.splitlines()
    assert fact.process(lines) == parse_snapshot("\n".join(lines))
    assert StackSnapshot.default() is None and StackSnapshot.name == "mooring.deploy.facts.snapshot.StackSnapshot"


# --- real boxes -------------------------------------------------------------------------------------

def mooring(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, **SECRET_ENV}
    return subprocess.run([sys.executable, "-m", "mooring", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def deploy(*limit: str) -> None:
    out = mooring("deploy", "sandbox", *[a for name in limit for a in ("--limit", name)])
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]


def gather(*limit: str) -> tuple[dict[str, HostSnapshot | dict], dict, subprocess.CompletedProcess]:
    """(host → snapshot, or the error's JSON), commands per host, the process) from a child process."""
    args = [sys.executable, "-m", "mooring.snapshots", "sandbox", "--digests"]
    args += [a for name in limit for a in ("--limit", name)]
    out = subprocess.run(args, cwd=ROOT, env={**os.environ, **SECRET_ENV}, capture_output=True, text=True,
                         timeout=600, stdin=subprocess.DEVNULL)
    assert out.stdout, out.stderr[-3000:]
    assert not leaked(out.stdout, out.stderr)
    payload = json.loads(out.stdout)
    hosts = {name: HostSnapshot.from_json(data) if "error" not in data else data
             for name, data in payload["hosts"].items()}
    return hosts, payload["commands"], out


def declared(name: str):
    from mooring.declare.model import build_model
    from mooring.declare.render import render_stack

    model = build_model(name, ["sandbox", "docker_boxes"])
    return model, render_stack(model)


@pytest.fixture(scope="module")
def deployed(bootstrapped, boxes):
    """The reference stack on both boxes (the deploy writes their snapshot keys)."""
    for name, value in SECRET_ENV.items():
        os.environ[name] = value  # the controller's model in this process: the session's secrets
    deploy()
    return boxes


@pytest.mark.boxes
@pytest.mark.slow
def test_snapshot_after_a_deploy_matches_the_rendered_state(deployed):
    from mooring.deploy.local_docker import image_id

    hosts, commands, out = gather()
    assert set(hosts) == {box.name for box in deployed.boxes}
    assert commands == {box.name: 1 for box in deployed.boxes}, "one remote command per host"
    for box in deployed.boxes:
        snap = hosts[box.name]
        model, rendered = declared(box.name)
        stack, key = model.stack, snapshot_key(box.name, model.stack.dir)
        assert isinstance(snap, HostSnapshot) and snap.complete and snap.warnings == (), snap
        assert snap.key == "present" and snap.key_matches(key)
        files = expected_file_digests(rendered, key)
        for item in rendered.files:
            state = snap.file(item.path)
            assert (state.type, state.mode, state.owner, state.group) == ("file", item.mode, item.owner, item.group)
            assert (state.digest if item.secret else state.sha256) == files[item.path], item.path
        for directory in rendered.directories:
            state = snap.file(directory.path)
            assert (state.type, state.mode, state.owner) == ("dir", directory.mode, directory.owner), directory.path
        env = expected_env_digests(stack, key)
        assert set(snap.env.names()) == set(stack.env) and not [k for k in snap.env.keys if k.empty]
        assert not [k for k in env if snap.env.differs(k, env) is not False]
        configs = expected_config_digests(stack, rendered, key)
        assert {s.service for s in snap.services} == set(stack.services)
        for service in stack.services.values():
            state = snap.service(service.name)
            assert state.running and state.health == ("healthy" if service.healthcheck else "none"), state
            assert state.image_id == image_id(service.image) == snap.image_id(service.image), service.name
            assert state.config == "keyed" and state.config_digest == configs[service.name], service.name
        assert snap.engine.engine and snap.engine.compose_v2 and not snap.engine.has_v1, snap.engine
        assert [c.lines for c in snap.cron] == [tuple(rendered.file(CRON_FILE).content.splitlines())]
        assert snap.cron_daemon == "running" and not snap.release.locked
        current = ssh(box, f"cat {STACK_DIR}/releases/current").stdout.strip()
        assert snap.release.current == current and current in snap.release.kept
    assert not leaked(json.dumps({n: s.to_json() for n, s in hosts.items()}))


@pytest.mark.boxes
@pytest.mark.slow
def test_changes_made_on_a_box_show_in_its_snapshot(deployed):
    box = deployed.boxes[1]
    model, rendered = declared(box.name)
    key = snapshot_key(box.name, model.stack.dir)
    try:
        changed = ssh(box, " && ".join([
            f"chmod 644 {ENV_FILE}",
            f"sed -i -e '/^REDIS_URL=/d' -e 's/^APP_VERSION=.*/APP_VERSION=/' -e 's/^PORT=.*/PORT=8001/' {ENV_FILE}",
            f"echo '# edited on the host' >> {NGINX_CONF}",
            f"rm {CRON_FILE}",
            "docker stop -t 1 solacore-nginx-1 >/dev/null",
        ]))
        assert changed.returncode == 0, changed.stderr
        hosts, commands, _ = gather(box.name)
        snap = hosts[box.name]
        assert commands == {box.name: 1} and snap.complete and snap.warnings == ()
        env = expected_env_digests(model.stack, key)
        assert snap.file(ENV_FILE).mode == "0644"
        assert snap.env.key("REDIS_URL") is None and snap.env.key("APP_VERSION").empty
        assert snap.env.differs("PORT", env) and snap.env.differs("APP_VERSION", env)
        assert snap.env.differs("POSTGRES_PASSWORD", env) is False
        assert snap.file(NGINX_CONF).sha256 != expected_file_digests(rendered)[NGINX_CONF]
        assert not snap.file(CRON_FILE).exists and [c.status for c in snap.cron] == ["missing"]
        assert snap.service("nginx").state == "exited" and snap.service("api").running

        changed = ssh(box, f"rm {KEY_FILE}")  # without its key the host can say what, not whether values differ
        assert changed.returncode == 0, changed.stderr
        assert changed.returncode == 0, changed.stderr
        snap = gather(box.name)[0][box.name]
        assert snap.key == "absent" and snap.key_matches(key) is None and snap.complete
        assert snap.env.key("APP_VERSION").empty and snap.env.differs("PORT", env) is None
        assert snap.file(ENV_FILE).content == "unknown" and snap.service("api").config == "unknown"
    finally:
        deploy(box.name)
    healed = gather(box.name)[0][box.name]  # the deploy put everything back, the key included
    assert healed.file(ENV_FILE).mode == "0600" and healed.service("nginx").running
    assert healed.key_matches(key) and healed.file(KEY_FILE).mode == "0600" and healed.file(KEY_FILE).owner == "root"
    assert not [k for k in env if healed.env.differs(k, env) is not False]
    assert healed.file(CRON_FILE).sha256 == expected_file_digests(rendered)[CRON_FILE]


@pytest.mark.boxes
@pytest.mark.slow
def test_engine_down_is_data_not_a_failed_snapshot(deployed):
    box = deployed.boxes[1]
    try:
        ssh(box, "service docker stop >/dev/null 2>&1; sleep 1; pkill dockerd; true")
        deadline = time.time() + 30
        while time.time() < deadline and ssh(box, "docker info >/dev/null 2>&1").returncode == 0:
            time.sleep(1)
        snap = gather(box.name)[0][box.name]
        assert isinstance(snap, HostSnapshot) and snap.complete
        assert snap.engine.engine is None and "daemon" in snap.engine.engine_error.lower(), snap.engine
        assert snap.engine.compose_v2 and snap.services == ()
        assert snap.file(ENV_FILE).exists and snap.env.names()  # the rest is read as usual
    finally:
        ssh(box, "service docker start >/dev/null 2>&1; true")
        wait_for(box, "docker info >/dev/null 2>&1")
        deploy(box.name)
        wait_for(box, SERVICES_SETTLED)  # a no-op deploy waits for no health check


@pytest.mark.boxes
@pytest.mark.slow
def test_a_stopped_box_is_an_error_naming_it_and_the_other_is_returned(deployed):
    from mooring.deploy import local_docker as docker

    one, two = deployed.boxes
    try:
        docker.run(["stop", "-t", "0", two.container])
        hosts, _, out = gather()
        assert out.returncode == 1
        error = hosts[two.name]
        assert error["host"] == two.name and error["error"] == "unreachable" and error["reason"], error
        assert isinstance(hosts[one.name], HostSnapshot) and hosts[one.name].complete
    finally:
        docker.run(["start", two.container])
        wait_for(two, "docker info >/dev/null 2>&1")
        deploy(two.name)
        wait_for(two, SERVICES_SETTLED)


SUDO_INVENTORY = '''"""The sandbox's docker boxes reached as the deploy user, as staging and production hosts are."""
from mooring.sandbox.boxes import host_data, load_state

_state = load_state()
docker_boxes = [(box.name, {**host_data(_state, box), "ssh_user": "deploy", "_sudo": SUDO})
                for box in _state.group("docker")]
'''


@pytest.mark.boxes
@pytest.mark.slow
@pytest.mark.parametrize("sudo", [True, False], ids=["sudo", "no-sudo"])
def test_as_the_deploy_user_sudo_reads_everything_and_without_it_unreadable_is_data(deployed, tmp_path, sudo):
    inventory = tmp_path / "sandbox.py"  # the file's name is its hosts' group: the sandbox's declared state
    inventory.write_text(SUDO_INVENTORY.replace("SUDO", str(sudo)))
    out = subprocess.run([sys.executable, "-m", "mooring.snapshots", str(inventory), "--digests"], cwd=ROOT,
                         env={**os.environ, **SECRET_ENV}, capture_output=True, text=True, timeout=600,
                         stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr[-3000:]
    assert not leaked(out.stdout, out.stderr)
    payload = json.loads(out.stdout)
    assert payload["commands"] == {box.name: 1 for box in deployed.boxes}
    for box in deployed.boxes:
        snap = HostSnapshot.from_json(payload["hosts"][box.name])
        assert snap.complete and snap.warnings == () and snap.file(ENV_FILE).mode == "0600"
        assert snap.service("api").running and snap.engine.compose_v2  # the deploy user is in group docker
        if sudo:
            assert snap.env.status == "read" and snap.key == "present" and snap.file(ENV_FILE).content == "keyed"
            assert not snap.file(KEY_FILE).hidden and snap.file(KEY_FILE).mode == "0600"
        else:
            assert snap.env.status == "unreadable" and snap.env.keys == () and snap.key == "unreadable"
            assert snap.file(ENV_FILE).content == "unreadable" and snap.file(ENV_FILE).digest is None
            assert snap.file(KEY_FILE).hidden and not snap.file(KEY_FILE).exists


def wait_for(box, command: str, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if ssh(box, command).returncode == 0:
            return
        time.sleep(1)
    raise AssertionError(f"{box.name}: `{command}` never succeeded")


def test_docstring_examples_run(world, monkeypatch):
    import doctest

    import mooring.checks.snapshot

    monkeypatch.delenv("MOORING_GROUP_DATA")
    result = doctest.testmod(mooring.checks.snapshot, optionflags=doctest.ELLIPSIS, report=True)
    assert result.failed == 0 and result.attempted >= 10, result
