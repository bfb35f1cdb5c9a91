"""The snapshot report parser (checks/snapshot.py ``parse_snapshot``), host-free: one report
holding every record type read into exactly the expected :class:`HostSnapshot`, and each way a
record can be malformed read as exactly one warning naming the line and the record (never its
content). Written for the mutation run (docs/mutation.md)."""

from __future__ import annotations

import pytest

from mooring.checks.snapshot import (BackupFile, BackupState, CronState, EngineState, EnvKey, EnvState, FileState,
                             HostSnapshot, ImageState, MetricsState, ReleasePointer, ReleaseRecord, ServiceState,
                             normalize_ref, parse_snapshot, unescape)

A, B, C, D, E = ("a" * 64, "b" * 64, "c" * 64, "d" * 64, "e" * 64)
CONTAINER = 'container\t{n}\t"/solacore-{s}-1"\t"id{n}"\t"{s}"\t"running"\t{health}\t"sha256:{s}"\t"{s}:1"\t"2026-01-01"\t0\t{rc}\t"{oneoff}"\t{config}'

FULL = "\n".join([
    "snapshot\t1\tdocker-1\t1700000000",
    "path\t/srv/app/.env\tregular file\t600\t0\t0\troot\troot\t650\t1700000001",
    "path\t/srv/app\tdirectory\t755\t0\t0\troot\troot\t4096\t1700000002",
    "path\t/srv/app/compose.yml\tregular empty file\t0644\t1000\t1001\tdeploy\tstaff\t0\t1700000003",
    "path\t/srv/app/link\tsymbolic link\t777\t0\t0\troot\troot\t9\t1700000004",
    "path\t/srv/app/fifo\tfifo\t644\t0\t0\troot\troot\t0\t1700000005",
    "missing\t/etc/cron.d/mooring-app",
    "hidden\t/srv/app/secret",
    f"sha\t{A}  /srv/app/compose.yml",
    f"ksha\t/srv/app/.env\t{B}",
    "ksha\t/srv/app/link\tunknown",
    "ksha\t/srv/app/fifo\tunreadable",
    "key\tpresent",
    "envfile\tread",
    "env\t1\tAPP_VERSION\tset",
    "env\t2\tEMPTY_ONE\tempty",
    "env\t3\tAPP_VERSION\tset",
    "envbad\t4",
    "envbad\t7",
    f"ksum\t{C}  /tmp/x/e.1",
    f"ksum\t{D}  /tmp/x/e.2",
    f"ksum\t{E}  /tmp/x/e.3",
    f"ksum\t{A}  /tmp/x/h.1",
    f"ksum\t{B}  /tmp/x/c.0",
    "cronfile\t/etc/cron.d/mooring-app\tread",
    "cron\t/etc/cron.d/mooring-app\t2\tsecond",
    "cron\t/etc/cron.d/mooring-app\t1\ta\\tb\\x41",
    "cronfile\t/etc/cron.d/other\tunreadable",
    "daemon\tcron\trunning",
    "docker\tpresent",
    "engine\t27.3.1",
    "compose\t/usr/libexec/docker/cli-plugins/docker-compose\tv2.29.7",
    "engineerr\tinfo\t1\tpermission\\tdenied",
    "v1\t/usr/bin/docker-compose\tv1.29.2\tdocker-compose",
    "v1pip\t/usr/lib/python3/dist-packages",
    "v1pip\t/usr/local/lib/python3.11",
    CONTAINER.format(n=1, s="web", health='"healthy"', rc=2, oneoff="False", config="keyed"),
    CONTAINER.format(n=2, s="db", health="null", rc="null", oneoff="False", config="keyed"),
    CONTAINER.format(n=3, s="api", health='"starting"', rc=0, oneoff="True", config="unknown"),
    CONTAINER.format(n=4, s="api", health='""', rc=1, oneoff="False", config="none"),
    'image\t["web:1","docker.io/library/web:latest"]\t["web@sha256:ff"]\t"sha256:web"',
    'image\tnull\tnull\t"sha256:none"',
    "backupdir\tlisted",
    "backup\tapp__db_20260102T020000Z.sql.gz\tf\t10\t1700000000.75",
    "backup\tapp__db_20260101T020000Z.sql.gz\tf\t20\t1690000000",
    "backup\tapp__db_20260103T020000Z.sql.gz.partial\tf\t5\t1700000100",
    "metricsfile\t/m.prom\tread",
    "metric\t/m.prom\t2\tsecond 2",
    "metric\t/m.prom\t1\tfirst\\t1",
    "verifyfile\t/v.prom\tmissing",
    "release\tcurrent\t0003-abc",
    "release\tpending\t",
    "releasekept\t0003-abc",
    "releasekept\t0001-old",
    'releaserec\t0003-abc\t2\t"b": 2}',
    'releaserec\t0003-abc\t1\t{"a": 1,',
    "releaserec\t0001-old\t1\tnot json",
    "lock\theld",
    "warning\tdf: /srv: no such file",
    "end",
    "",
])


def test_every_record_is_read_into_the_snapshot():
    snap = parse_snapshot(FULL)
    assert snap == HostSnapshot(
        host="docker-1", format=1, taken_at=1700000000,
        files=(
            FileState("/srv/app/.env", True, "file", "0600", "root", "root", 0, 0, 650, 1700000001, None, "keyed",
                      False, B),
            FileState("/srv/app", True, "dir", "0755", "root", "root", 0, 0, 4096, 1700000002),
            FileState("/srv/app/compose.yml", True, "file", "0644", "deploy", "staff", 1000, 1001, 0, 1700000003, A,
                      "sha256"),
            FileState("/srv/app/link", True, "link", "0777", "root", "root", 0, 0, 9, 1700000004, None, "unknown"),
            FileState("/srv/app/fifo", True, "other", "0644", "root", "root", 0, 0, 0, 1700000005, None, "unreadable"),
            FileState("/etc/cron.d/mooring-app", False),
            FileState("/srv/app/secret", False, hidden=True),
        ),
        env=EnvState("read", (EnvKey("APP_VERSION", 1, False, C), EnvKey("EMPTY_ONE", 2, True, D),
                              EnvKey("APP_VERSION", 3, False, E)), (4, 7)),
        cron=(CronState("/etc/cron.d/mooring-app", "read", ("a\tbA", "second")),
              CronState("/etc/cron.d/other", "unreadable", ())),
        cron_daemon="running",
        services=(
            ServiceState("api", "solacore-api-1", "id3", "running", "starting", "sha256:api", "api:1", "2026-01-01", 0,
                         0, True, "unknown", None),
            ServiceState("api", "solacore-api-1", "id4", "running", "none", "sha256:api", "api:1", "2026-01-01", 0, 1,
                         False, "none", None),
            ServiceState("db", "solacore-db-1", "id2", "running", "none", "sha256:db", "db:1", "2026-01-01", 0, None,
                         False, "unknown", None),
            ServiceState("web", "solacore-web-1", "id1", "running", "healthy", "sha256:web", "web:1", "2026-01-01", 0, 2,
                         False, "keyed", A),
        ),
        images=(ImageState("sha256:web", ("web:1", "docker.io/library/web:latest"), ("web@sha256:ff",)),
                ImageState("sha256:none", (), ())),
        engine=EngineState("present", "27.3.1", "permission\tdenied", "2.29.7",
                           "/usr/libexec/docker/cli-plugins/docker-compose", "/usr/bin/docker-compose", "1.29.2",
                           "docker-compose", ("/usr/lib/python3/dist-packages", "/usr/local/lib/python3.11")),
        backups=BackupState("listed", (BackupFile("app__db_20260101T020000Z.sql.gz", "f", 20, 1690000000),
                                       BackupFile("app__db_20260102T020000Z.sql.gz", "f", 10, 1700000000),
                                       BackupFile("app__db_20260103T020000Z.sql.gz.partial", "f", 5, 1700000100))),
        metrics=MetricsState("/m.prom", "read", ("first\t1", "second 2")),
        verify_metrics=MetricsState("/v.prom", "missing", ()),
        release=ReleasePointer("0003-abc", None, ("0001-old", "0003-abc"), True,
                               (ReleaseRecord("0001-old", "not json"), ReleaseRecord("0003-abc", '{"a": 1,\n"b": 2}'))),
        key="present", complete=True, warnings=("host: df: /srv: no such file",), key_check=B,
    )
    assert snap.service("api").id == "id4"  # the one-off container (listed first: same names) is not the service
    assert snap.release.record("0003-abc") == {"a": 1, "b": 2} and snap.release.record("0001-old") == {}
    assert snap.release.current_number == 3 and snap.engine.has_v1 and snap.engine.compose_v2
    assert snap.backups.dumps() == snap.backups.files[:2]
    assert snap.metrics.samples() == {"second": 2.0}  # "first\t1" is not a sample line of the format
    assert snap.image_id("web") == snap.image_id("docker.io/library/web:1") == "sha256:web"


def test_a_header_of_another_format_or_without_time():
    snap = parse_snapshot("snapshot\t2\th\tnever\nend\n")
    assert (snap.host, snap.format, snap.taken_at, snap.complete) == ("h", 2, None, True)
    assert snap.warnings == ("report format 2, this mooring reads 1",)
    assert parse_snapshot("snapshot\t1\th\t5\nend\n").warnings == ()


def test_missing_and_hidden_never_override_a_path_found():
    snap = parse_snapshot("path\t/x\tdirectory\t755\t0\t0\tr\tr\t1\t2\nmissing\t/x\nhidden\t/x\nhidden\t/y\n"
                          "missing\t/y\nend\n")
    assert snap.file("/x").exists and snap.file("/x").mode == "0755"
    assert snap.file("/y") == FileState("/y", False, hidden=True)


def test_without_a_key_digests_are_left_out_and_no_warning_without_key():
    snap = parse_snapshot("key\tabsent\nenvfile\tread\nenv\t1\tA\tset\nend\n")
    assert snap.env.keys == (EnvKey("A", 1, False, None),) and snap.warnings == () and snap.key == "absent"
    assert snap.key_check is None


def test_a_present_key_with_an_env_line_lacking_its_digest_warns():
    snap = parse_snapshot(f"key\tpresent\nenvfile\tread\nenv\t1\tA\tset\nenv\t2\tB\tset\nksum\t{A}  /t/e.1\nend\n")
    assert snap.warnings == ("some .env lines have no keyed digest (the report was cut short?)",)
    whole = parse_snapshot(f"key\tpresent\nenvfile\tread\nenv\t1\tA\tset\nksum\t{A}  /t/e.1\nend\n")
    assert whole.warnings == () and whole.env.key("A").digest == A
    assert parse_snapshot("key\tpresent\nenvfile\tread\nend\n").warnings == ()


def test_a_keyed_container_without_its_digest_is_unknown():
    line = CONTAINER.format(n=5, s="web", health='"healthy"', rc=0, oneoff="False", config="keyed")
    [service] = parse_snapshot(line + "\nend\n").services
    assert (service.config, service.config_digest) == ("unknown", None)
    [digested] = parse_snapshot(line + f"\nksum\t{C}  /t/h.5\nend\n").services
    assert (digested.config, digested.config_digest) == ("keyed", C)
    [unkeyed] = parse_snapshot(CONTAINER.format(n=5, s="web", health='"healthy"', rc=0, oneoff="False",
                                                config="none") + f"\nksum\t{C}  /t/h.5\nend\n").services
    assert (unkeyed.config, unkeyed.config_digest) == ("none", None)


def test_null_container_fields_become_empty():
    line = "container\t1\t" + "\t".join(["null"] * 11) + "\tnone"
    [service] = parse_snapshot(line + "\nend\n").services
    assert service == ServiceState("", "", "", "", "none", "", "", "", None, None, False, "none", None)


def test_empty_engine_and_compose_and_v1_fields_are_none():
    snap = parse_snapshot("docker\tpresent\nengine\t\ncompose\t\tv\nv1\t/usr/bin/docker-compose\t\t\nend\n")
    assert snap.engine == EngineState("present", None, "", None, None, "/usr/bin/docker-compose", None, None, ())


@pytest.mark.parametrize(("line", "warning"), [
    ("path\t/x\tdirectory", "line 1: path record: unexpected fields (2)"),
    ("path\t/x\tdirectory\t755\tzero\t0\tr\tr\t1\t2", "line 1: path record: unreadable value"),
    ("missing\t/x\t/y", "line 1: missing record: unexpected fields (2)"),
    ("hidden\t/x\t/y", "line 1: hidden record: unexpected fields (2)"),
    ("sha\t" + A, "line 1: sha record: unexpected fields (1)"),
    ("sha\t" + "A" * 64 + "  /x", "line 1: sha record: unexpected fields (1)"),
    ("sha\t" + "a" * 63 + "  /x", "line 1: sha record: unexpected fields (1)"),
    ("ksha\t/x\tnope", "line 1: ksha record: unexpected fields (2)"),
    ("ksum\t" + "a" * 65 + "  /t/e.1", "line 1: ksum record: unexpected fields (1)"),
    ("ksum\t" + A, "line 1: ksum record: unexpected fields (1)"),
    ("key\tstolen", "line 1: key record: unexpected fields (1)"),
    ("env\t1\tA\tmaybe", "line 1: env record: unexpected fields (3)"),
    ("env\t1\t1A\tset", "line 1: env record: unexpected fields (3)"),
    ("env\tone\tA\tset", "line 1: env record: unreadable value"),
    ("envbad\tx", "line 1: envbad record: unreadable value"),
    ("cron\t/not/announced\t1\tx", "line 1: cron record: unreadable value"),
    ("daemon\tsshd\trunning", "line 1: daemon record: unexpected fields (2)"),
    ("container\t1\t\"x\"", "line 1: container record: unexpected fields (2)"),
    ("container\t1" + "\t\"x\"" * 11 + "\tstolen", "line 1: container record: unexpected fields (13)"),
    ("container\t1" + "\tnot-json" * 11 + "\tnone", "line 1: container record: unreadable value"),
    ("inspectbad\t3", "line 1: inspectbad record: unexpected fields (1)"),
    ("image\t[]\t[]", "line 1: image record: unexpected fields (2)"),
    ("backup\tname\tf\tten\t1", "line 1: backup record: unreadable value"),
    ("metric\t/m\t1\tx", "line 1: metric record: unexpected fields (3)"),
    ("verifymetric\t/v\t1\tx", "line 1: verifymetric record: unexpected fields (3)"),
    ("release\tprevious\t0001-a", "line 1: release record: unexpected fields (2)"),
    ("end\textra", None),
])
def test_each_malformed_record_is_one_warning_naming_it(line, warning):
    snap = parse_snapshot(line + "\nend\n")
    assert snap.warnings == ((warning,) if warning else ())
    assert snap.complete


def test_unknown_records_are_named_only_when_the_name_is_safe():
    snap = parse_snapshot("zzz\tvalue\nZZZ\tvalue\nzzz\nabcdefghijklmnopq\tv\nx-y\tv\nend\n")
    assert snap.warnings == ("line 1: unknown 'zzz' (9 characters)", "line 2: unknown record (9 characters)",
                             "line 3: unknown record (3 characters)", "line 4: unknown record (19 characters)",
                             "line 5: unknown record (5 characters)")
    assert parse_snapshot("abcdefghijklmnop\tv\nend\n").warnings == ("line 1: unknown 'abcdefghijklmnop' (18 characters)",)


def test_blank_lines_are_skipped_and_numbers_count_them():
    snap = parse_snapshot("\n\nzzz\tv\n\nend\n")
    assert snap.warnings == ("line 3: unknown 'zzz' (5 characters)",)


def test_metric_lines_before_their_file_record_and_release_oddities():
    snap = parse_snapshot("metric\t/m\t1\tx 1\nmetricsfile\t/m\tread\nmetric\t/m\t1\tx 1\nreleasebad\t..\nlock\tfree\n"
                          "end\n")
    assert snap.warnings == ("line 1: metric record: unexpected fields (3)",
                             "releases/.. holds characters a release pointer never has")
    assert snap.metrics == MetricsState("/m", "read", ("x 1",)) and snap.verify_metrics is None
    assert snap.release.locked is False


def test_a_report_without_end_is_cut_short():
    snap = parse_snapshot("snapshot\t1\th\t1\n")
    assert (snap.complete, snap.warnings) == (False, ("the report has no end record: it was cut short",))
    assert parse_snapshot("end\n").complete


@pytest.mark.parametrize(("ref", "normal"), [
    ("postgres", "postgres:latest"), ("postgres:15", "postgres:15"), ("docker.io/library/postgres:15", "postgres:15"),
    ("index.docker.io/library/postgres", "postgres:latest"), ("docker.io/team/app:1", "team/app:1"),
    ("index.docker.io/team/app", "team/app:latest"), ("ghcr.io/team/app", "ghcr.io/team/app:latest"),
    ("registry:5000/app", "registry:5000/app:latest"), ("app@sha256:ab", "app@sha256:ab"),
])
def test_image_refs_are_compared_as_docker_names_them(ref, normal):
    assert normalize_ref(ref) == normal


def test_unescape_of_every_escape_and_invalid_bytes():
    assert unescape("\\\\") == "\\" and unescape("\\t\\r") == "\t\r" and unescape("\\x41\\x42") == "AB"
    assert unescape("\\xff") == "\ufffd" and unescape("\\q") == "q" and unescape("plain") == "plain"
    assert unescape("a\\xc3\\xa9b") == "aéb"


def test_json_leaves_digests_out_unless_asked():
    snap = parse_snapshot(FULL)
    shown = snap.to_json()
    assert "key_check" not in shown and "digest" not in shown["files"][0]
    assert "config_digest" not in shown["services"][3] and shown["services"][3]["config"] == "keyed"
    full = snap.to_json(digests=True)
    assert full["key_check"] == B and full["files"][0]["digest"] == B
    assert HostSnapshot.from_json(full) == snap
    import json

    assert HostSnapshot.from_json(json.dumps(full)) == snap
    again = HostSnapshot.from_json(shown)
    assert again.key_check is None and again.files[0].digest is None and again.env.keys[0].digest is None
    assert again.metrics == snap.metrics and again.release == snap.release


def test_a_record_handler_takes_exactly_its_fields():
    from mooring.checks.snapshot import _fields

    handler = _fields(2)(lambda reader, a, b: (reader, a, b))
    assert handler("r", ["x", "y"]) == ("r", "x", "y")
    assert handler("r", ["x"]) is False and handler("r", ["x", "y", "z"]) is False and handler("r", []) is False


def test_the_spec_knows_each_watched_path_and_no_other(world):
    from mooring.checks.snapshot import snapshot_spec
    from mooring.declare.render import render_stack
    from tests.declared_world import model_for

    model = model_for("sandbox")
    spec = snapshot_spec(model, render_stack(model))
    env = spec.path(model.stack.env_file)
    assert env is not None and env.path == model.stack.env_file
    assert spec.path("/not/watched") is None


def sandbox_rendered():
    from mooring.declare.render import render_stack
    from tests.declared_world import model_for

    model = model_for("sandbox")
    return model.stack, render_stack(model)


def test_compose_hashes_run_in_a_private_folder_and_leave_nothing_behind(world, tmp_path, monkeypatch):
    import os
    import stat
    import subprocess

    from mooring.checks import snapshot
    from mooring.declare.compose import local_binary

    stack, rendered = sandbox_rendered()
    compose, env = rendered.file(stack.compose_file).content, rendered.file(stack.env_file).content
    seen = {}
    real = subprocess.run

    def run(argv, **kwargs):
        env_file = argv[argv.index("--env-file") + 1]
        compose_file = argv[argv.index("-f") + 1]
        seen.update(env_mode=stat.S_IMODE(os.stat(env_file).st_mode), env_text=open(env_file).read(),
                    compose_text=open(compose_file).read(), absolute=os.path.isabs(env_file) and os.path.isabs(compose_file),
                    env=kwargs.get("env"))
        return real(argv, **kwargs)

    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(snapshot.subprocess, "run", run)
    hashes = snapshot._compose_config_hashes(stack, compose, env, local_binary())
    assert set(hashes) == set(stack.services) and all(len(v) == 64 and v == v.strip() for v in hashes.values())
    assert seen["env_mode"] == 0o600 and seen["absolute"]
    assert (seen["env_text"], seen["compose_text"]) == (env, compose)
    assert set(seen["env"]) == {"PATH", "HOME", "DOCKER_CONFIG"}  # none of the controller's variables
    assert list(cwd.iterdir()) == []


def test_the_controllers_variables_never_change_the_hashes(world, monkeypatch):
    from mooring.checks import snapshot
    from mooring.declare.compose import local_binary

    stack, rendered = sandbox_rendered()
    compose, env = rendered.file(stack.compose_file).content, rendered.file(stack.env_file).content
    before = snapshot._compose_config_hashes(stack, compose, env, local_binary())
    for name in stack.env:
        monkeypatch.setenv(name, "from-the-controller")
    monkeypatch.setenv("COMPOSE_PROJECT_NAME", "other")
    assert snapshot._compose_config_hashes(stack, compose, env, local_binary()) == before


def test_a_compose_that_fails_is_named_without_its_output(world):
    from mooring.checks import snapshot

    stack, rendered = sandbox_rendered()
    with pytest.raises(RuntimeError) as info:
        snapshot._compose_config_hashes(stack, "services: [", "", "/bin/false")
    assert str(info.value) == "docker compose config --hash failed for stack solacore (exit 1)"


def test_an_env_line_differs_only_when_both_digests_are_known():
    keys = (EnvKey("A", 1, False, "da"), EnvKey("B", 2, False, None))
    env = EnvState("read", keys)
    assert env.differs("A", {"A": "da"}) is False and env.differs("A", {"A": "other"}) is True
    assert env.differs("B", {"B": "db"}) is None  # the host printed no digest
    assert env.differs("C", {"C": "dc"}) is None  # the host lacks the key
    assert env.differs("A", {}) is None  # not rendered


def test_the_spec_says_what_each_watched_path_is(world):
    from mooring.checks.snapshot import PathSpec, snapshot_spec
    from mooring.declare.render import render_stack
    from tests.declared_world import model_for

    data = world.read("all.yml")
    volumes = data["stack"]["services"]["nginx"]["volumes"]
    volumes.append({"source": "/srv/shared/ca.pem", "target": "/etc/ca.pem", "read_only": True, "kind": "file",
                    "owner": "root", "group": "root", "mode": "0640"})
    world.write("all.yml", data)
    model = model_for("sandbox")
    spec = snapshot_spec(model, render_stack(model))
    [releases] = [p for p in spec.paths if p.role == "releases"]
    assert releases == PathSpec(f"{model.stack.dir}/releases", "dir", "releases")
    assert spec.path("/srv/shared/ca.pem") == PathSpec("/srv/shared/ca.pem", "file", "mount", "0640", "root", "root",
                                                       read_only=True)


def test_a_host_without_snapshot_says_why_in_words_and_json():
    from mooring.checks.snapshot import SnapshotError

    error = SnapshotError("docker-2", "unreachable", "ssh: connection refused")
    assert str(error) == "docker-2: unreachable: ssh: connection refused"
    assert error.to_json() == error.to_json(digests=True) == {"host": "docker-2", "error": "unreachable",
                                                               "reason": "ssh: connection refused"}
