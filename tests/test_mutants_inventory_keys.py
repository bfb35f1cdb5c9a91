"""Reading a pyinfra inventory (checks/preflight.py ``inventory_hosts``) and the snapshot key and
digests (checks/snapshot.py), host-free: hosts, groups and data as pyinfra reads them, an
inventory pyinfra reads as UTF-8 whatever the controller's locale, odd host entries read or
refused (never a traceback), the snapshot key derived exactly as the hosts already hold it, and
the snapshot script run for real with ``sh`` over a local folder. Written for the mutation run
(docs/mutation.md)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mooring.checks import live
from mooring.checks.findings import Outcome
from mooring.checks.live import run_live_rules
from mooring.checks.preflight import host_key_findings, inventory_hosts
from mooring.checks.snapshot import (PathSpec, SnapshotSpec, expected_env_digests, key_check_digest, keyed_digest,
                                     parse_snapshot, snapshot_key, snapshot_script)
from mooring.declare.errors import MooringError
from tests.live_world import healthy_view, said

ROOT = Path(__file__).resolve().parents[1]
#: A team's shared digest key as ``MOORING_DIGEST_KEY`` takes it (64 lowercase hex characters).
TEAM_KEY = hashlib.sha256(b"a team's shared digest key").hexdigest()


def write_inventory(folder: Path, text: str, name: str = "site.py") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def read(path: Path) -> list[tuple[str, tuple[str, ...], dict]]:
    """What the pre-flight reads of an inventory: (name, groups, data) per host, in order."""
    return [(h.name, h.groups, h.data) for h in inventory_hosts(str(path))]


def pyinfra_reads(path: Path) -> list[tuple[str, tuple[str, ...], dict]]:
    """What pyinfra itself reads of the same file: (name, groups, the host's inventory data). In a
    child Python: importing ``pyinfra_cli`` monkey-patches its process for gevent (tests/test_doctests.py)."""
    program = ("import json, sys\n"
               "from pyinfra.api import State\n"
               "from pyinfra.context import ctx_state\n"
               "from pyinfra_cli.inventory import make_inventory_from_files\n"
               "with ctx_state.use(State()):\n"
               "    inventory = make_inventory_from_files(sys.argv[1])\n"
               "print(json.dumps([[h.name, list(h.groups), dict(inventory.host_data[h.name])] for h in inventory]))\n")
    out = subprocess.run([sys.executable, "-c", program, str(path)], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    return [(name, tuple(groups), data) for name, groups, data in json.loads(out.stdout.strip().splitlines()[-1])]


# --- reading an inventory -------------------------------------------------------------------------

def test_a_host_in_two_groups_keeps_the_data_each_group_gives_it_like_pyinfra(tmp_path: Path) -> None:
    """pyinfra merges a host's tuple data over every group listing it; so does the pre-flight
    (the host-key check reads the merged data)."""
    path = write_inventory(tmp_path, "\n".join([
        "web = [('web-1', {'ssh_user': 'deploy'}), 'web-2']",
        "db = [('web-1', {'ssh_port': 2222}), ('db-1', {'ssh_port': 2200})]",
    ]))
    assert read(path) == [
        ("web-1", ("web", "db", "site"), {"ssh_user": "deploy", "ssh_port": 2222}),
        ("web-2", ("web", "site"), {}),
        ("db-1", ("db", "site"), {"ssh_port": 2200}),
    ]
    assert read(path) == pyinfra_reads(path)


def test_a_later_group_weakening_host_keys_is_not_lost_behind_an_earlier_ones_data(tmp_path: Path) -> None:
    """The host-key check sees data from every group of the host, not only its last one."""
    path = write_inventory(tmp_path, "\n".join([
        "web = [('web-1', {'ssh_strict_host_key_checking': 'no'})]",
        "db = [('web-1', {'ssh_port': 2222})]",
    ]))
    findings = host_key_findings(inventory_hosts(str(path)), str(path))
    assert [(f.check, f.outcome, f.subject, f.file) for f in findings] == [
        ("inventory.host_keys", Outcome.FAILED, "web-1", str(path))]


@pytest.mark.parametrize("text, names", [
    ("web = ('web-1', 'web-2')", ["web-1", "web-2"]),
    ("web = ('web-1', 'web-2', 'web-3')", ["web-1", "web-2", "web-3"]),
    ("web = [('web-1', None), 'web-2']", ["web-1", "web-2"]),
    ("web = [('web-1',), 'web-2']", ["web-1", "web-2"]),
], ids=["tuple-of-two-names", "tuple-of-three-names", "entry-with-None-data", "entry-without-data"])
def test_an_odd_group_is_read_or_refused_naming_the_inventory_never_a_traceback(tmp_path: Path, text: str,
                                                                                names: list[str]) -> None:
    """``mooring validate`` turns a ``MooringError`` into an inventory finding; any other exception
    while reading the inventory or checking its host keys is a traceback. A group mooring does
    read gives the names written, each with a data dict (none given: empty, host keys strict).
    pyinfra itself takes a group tuple as ``(hosts, data)`` and fails on ``None`` data, so
    refusing these with a ``MooringError`` naming the file would be as right."""
    path = write_inventory(tmp_path, text)
    try:
        hosts = inventory_hosts(str(path))
    except MooringError as exc:
        assert str(path) in str(exc)
        return
    assert [h.name for h in hosts] == names
    assert all(h.groups == ("web", "site") and isinstance(h.data, dict) for h in hosts)
    assert host_key_findings(hosts, str(path)) == []


def test_an_inventory_is_read_as_utf8_like_pyinfra_whatever_the_controllers_locale(tmp_path: Path) -> None:
    """pyinfra reads inventory files as UTF-8; under a non-UTF-8 locale (``LC_ALL=C`` and
    ``PYTHONUTF8=0``, as in a minimal cron or CI environment) the pre-flight reads the same
    hosts and data, not a decoding error or mangled text."""
    path = write_inventory(tmp_path, "# Zürich rack\nweb = [('web-1', {'ssh_user': 'josé'})]\n")
    program = ("import json, locale, sys\n"
               "from mooring.checks.preflight import inventory_hosts\n"
               "print(json.dumps({'encoding': locale.getpreferredencoding(False),\n"
               "                  'hosts': [[h.name, list(h.groups), h.data] for h in inventory_hosts(sys.argv[1])]}))\n")
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
    out = subprocess.run([sys.executable, "-c", program, str(path)], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    if result["encoding"].lower().replace("-", "") == "utf8":
        pytest.skip("this platform gives no non-UTF-8 locale")
    assert result["hosts"] == [["web-1", ["web", "site"], {"ssh_user": "josé"}]]


# --- the snapshot key -----------------------------------------------------------------------------

def test_the_snapshot_key_is_the_hmac_hosts_already_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys written on hosts by earlier deploys must still match: HMAC-SHA256 under the team's
    digest key over ``label \\0 host \\0 stack folder`` (docs/snapshot.md), as 64 hex ASCII bytes."""
    monkeypatch.setenv("MOORING_DIGEST_KEY", TEAM_KEY)
    for host, stack_dir in (("docker-1", "/srv/mooring/solacore"), ("docker-2", "/srv/mooring/solacore"),
                            ("docker-1", "/srv/mooring/other")):
        message = b"mooring-snapshot-key" + b"\0" + host.encode() + b"\0" + stack_dir.encode()
        expected = hmac.new(TEAM_KEY.encode("ascii"), message, hashlib.sha256).hexdigest().encode("ascii")
        assert snapshot_key(host, stack_dir) == expected
    assert len({snapshot_key(h, d) for h, d in (("docker-1", "/a"), ("docker-2", "/a"), ("docker-1", "/b"))}) == 3


# --- the snapshot script, run for real over a local folder ----------------------------------------

def run_snapshot(stack: Path, tmpdir: Path, env_text: str, key: bytes):
    """Lay out a stack folder (compose file, .env, snapshot key), run the snapshot script over it
    with ``sh`` (``TMPDIR``: where it makes its private folder) and parse the report."""
    (stack / ".mooring").mkdir(parents=True)
    tmpdir.mkdir(parents=True)
    (stack / "compose.yml").write_bytes(b"services:\n  web:\n    image: nginx:1.27\n")
    (stack / ".env").write_text(env_text, encoding="utf-8")
    (stack / ".mooring" / "snapshot.key").write_bytes(key)
    spec = SnapshotSpec(
        host="docker-1", project="mooring-inventory-keys-test", stack_dir=str(stack),
        compose_file=str(stack / "compose.yml"), env_file=str(stack / ".env"),
        key_file=str(stack / ".mooring" / "snapshot.key"), releases_dir=str(stack / "releases"),
        paths=(PathSpec(str(stack / "compose.yml"), "file", "file", digest=True),
               PathSpec(str(stack / ".env"), "file", "file"),
               PathSpec(str(stack / ".mooring" / "snapshot.key"), "file", "key")),
        env_keys=(), services=())
    out = subprocess.run(["sh", "-c", snapshot_script(spec)], capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL, env={**os.environ, "TMPDIR": str(tmpdir)})
    assert out.returncode == 0, out.stderr
    return parse_snapshot(out.stdout)


def test_a_watched_file_whose_path_has_double_spaces_gets_the_sha256_of_its_content(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``sha256sum`` prints ``digest  path``: the path is everything after the first two spaces."""
    monkeypatch.setenv("MOORING_DIGEST_KEY", TEAM_KEY)
    stack = tmp_path / "my  stack"
    snap = run_snapshot(stack, tmp_path / "tmp", "A=1\n", snapshot_key("docker-1", str(stack)))
    compose = snap.file(str(stack / "compose.yml"))
    content = (stack / "compose.yml").read_bytes()
    assert (compose.content, compose.sha256) == ("sha256", hashlib.sha256(content).hexdigest())
    assert snap.warnings == () and snap.complete


def test_keyed_env_digests_match_the_controllers_when_the_hosts_temp_folder_has_double_spaces(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The host hashes ``key || line`` in files of its private temporary folder; their digests are
    read by file name even when that folder's path holds two spaces, and match ``sha256(key ||
    line)`` computed here, the controller's expected digests and its key check."""
    monkeypatch.setenv("MOORING_DIGEST_KEY", TEAM_KEY)
    stack = tmp_path / "stack"
    key = snapshot_key("docker-1", str(stack))
    env_text = "APP_VERSION=1.2\nEMPTY=\n"
    snap = run_snapshot(stack, tmp_path / "scratch  dir", env_text, key)
    assert snap.warnings == () and snap.key == "present" and snap.key_matches(key) is True
    assert [(k.key, k.line, k.empty, k.digest) for k in snap.env.keys] == [
        ("APP_VERSION", 1, False, hashlib.sha256(key + b"APP_VERSION=1.2").hexdigest()),
        ("EMPTY", 2, True, hashlib.sha256(key + b"EMPTY=").hexdigest()),
    ]
    assert {k.key: k.digest for k in snap.env.keys} == expected_env_digests(env_text, key)
    assert snap.key_check == key_check_digest(key) == keyed_digest(key, "mooring-snapshot-key-check")


def env_awk_key_state(tmp_path: Path, key_file_exists: str, content: bytes | None) -> str:
    """Run the host's .env/key awk program (``ke``: 0 absent, 1 exists, 2 its folder is closed
    to us) and return the ``key`` record it prints."""
    from mooring.checks import snapshot

    key_file = tmp_path / "snapshot.key"
    if content is not None:
        key_file.write_bytes(content)
    out = subprocess.run(["awk", "-v", "d=", "-v", f"kf={key_file}", "-v", f"ke={key_file_exists}",
                          snapshot._ENV_AWK, "/dev/null"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.parametrize("ke, content, state", [
    ("0", None, "absent"),
    ("1", b"a" * 64, "present"),
    ("1", b"not a key", "malformed"),
    ("2", None, "unreadable"),
])
def test_every_key_state_the_host_reports_is_read_back_without_a_warning(tmp_path: Path, ke: str,
                                                                         content: bytes | None, state: str) -> None:
    """The host's awk says absent / present / malformed / unreadable (docs/snapshot.md); the
    parser keeps each as the snapshot's ``key``, none of them an unreadable record."""
    record = env_awk_key_state(tmp_path, ke, content)
    assert record == f"key\t{state}\n"
    snap = parse_snapshot(f"snapshot\t1\tdocker-1\t1700000000\n{record}end\n")
    assert (snap.key, snap.warnings) == (state, ())


@pytest.mark.parametrize("answered, shown", [
    ("v2.29.7", "2.29.7"),
    ("2.29.7", "2.29.7"),
    ("2.30.0-desktop.1", "2.30.0-desktop.1"),
    ("X1.0", "X1.0"),  # not Compose at all (a shim's own version): shown as it answered
    ("", None),
])
def test_the_compose_plugins_answer_is_kept_but_for_a_leading_v(answered: str, shown: str | None) -> None:
    """``live.engine`` shows (and judges) what the plugin answered; only a leading ``v`` goes."""
    plugin = "/usr/libexec/docker/cli-plugins/docker-compose"
    snap = parse_snapshot(f"snapshot\t1\tdocker-1\t1700000000\ncompose\t{plugin}\t{answered}\nend\n")
    assert (snap.engine.compose_plugin, snap.engine.compose, snap.warnings) == (plugin, shown, ())


# --- live rules written with the host view --------------------------------------------------------

def test_a_live_rule_giving_only_check_outcome_and_resource_reports_no_message(world,
                                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A rule registered with ``live_rule`` may leave message, fix, path, expected and actual out:
    the user reads none of them (no file either: no declared key)."""
    monkeypatch.setattr(live, "LIVE_RULES", {})

    @live.live_rule("site.marker")
    def marker(view: live.HostView) -> list:
        return [view.finding("site.marker", Outcome.WARNING, "service:web")]

    view = healthy_view()
    found = run_live_rules(view)
    assert said(found) == [("site.marker", "warning", "service:web", "", "", "", "", "", "")]
    assert (found[0].subject, found[0].host) == (view.model.name, view.model.name)
