"""What the host snapshot reads (checks/snapshot.py ``snapshot_spec``), host-free: for a sample
stack, every watched path once with exactly its role (dir, file, mount, key, releases, log,
metrics), kind, declared mode/owner/group, secret and digest flags, and read-only for the
sources of ``:ro`` bind mounts (a rendered file or folder mounted read-only stays a rendered
file or folder, a read-write mount of one stays writable); the backup log, metrics and drill
metrics textfiles, cron file, dump folder and dump patterns only when backups are enabled AND
have a service to dump; the compose services with their healthcheck and restart policy; and a
host without a stack refused with a ConfigError naming the file, the key, the reason and the
fix. Written for the mutation run (docs/mutation.md)."""

from __future__ import annotations

import pytest

from mooring.checks.snapshot import PathSpec, ServiceSpec, snapshot_spec
from mooring.declare.errors import ConfigError
from mooring.declare.render import RenderedStack, render_stack
from tests.declared_world import model_for

STACK_DIR = "/srv/mooring/solacore"
BACKUP_DIR = "/var/backups/mooring/solacore"
LOG = "/var/log/mooring-solacore-backup.log"
METRICS = "/var/lib/prometheus/node-exporter/mooring-backup-solacore.prom"
VERIFY_METRICS = "/var/lib/prometheus/node-exporter/mooring-backup-verify-solacore.prom"
CRON_FILE = "/etc/cron.d/mooring-solacore"
PATTERN = "solacore__readme_to_recover_" + "[0-9]" * 8 + "T" + "[0-9]" * 6 + "Z.sql.gz"


def rooted(path: str, kind: str, role: str, mode: str, secret: bool = False, read_only: bool = False) -> PathSpec:
    """A path the deploy writes as root:root (files are hashed, folders are not)."""
    return PathSpec(path, kind, role, mode, "root", "root", secret, kind == "file", read_only)


#: The paths every sandbox stack is watched at (the deploy's folders and files, the key, the releases).
STACK_PATHS = [
    rooted(STACK_DIR, "dir", "dir", "0755"),
    rooted(f"{STACK_DIR}/nginx/conf.d", "dir", "dir", "0755", read_only=True),  # nginx mounts it :ro
    rooted(f"{STACK_DIR}/compose.yml", "file", "file", "0644"),
    rooted(f"{STACK_DIR}/.env", "file", "file", "0600", secret=True),
    rooted(f"{STACK_DIR}/nginx/conf.d/default.conf", "file", "file", "0644"),
    # The snapshot key: stat only, never hashed.
    PathSpec(f"{STACK_DIR}/.mooring/snapshot.key", "file", "key", "0600", "root", "root"),
    PathSpec(f"{STACK_DIR}/releases", "dir", "releases"),
]
#: What backups with a service to dump add: the dump folder, the job's scripts (and their folder) and cron file,
#: and the textfiles the job writes (stat only: no declared mode, never hashed).
BACKUP_PATHS = [
    rooted(f"{STACK_DIR}/bin", "dir", "dir", "0755"),
    rooted(BACKUP_DIR, "dir", "dir", "0700"),
    rooted(f"{STACK_DIR}/bin/backup.sh", "file", "file", "0750"),
    rooted(f"{STACK_DIR}/bin/restore.sh", "file", "file", "0750"),
    rooted(f"{STACK_DIR}/bin/drill.sh", "file", "file", "0750"),
    rooted(CRON_FILE, "file", "file", "0644"),
    PathSpec(LOG, "file", "log"),
    PathSpec(VERIFY_METRICS, "file", "metrics"),
]


def by_path(spec) -> dict[str, PathSpec]:
    """The spec's paths by path, after checking that no path is watched twice."""
    paths = [p.path for p in spec.paths]
    assert len(paths) == len(set(paths)), sorted(p for p in paths if paths.count(p) > 1)
    return {p.path: p for p in spec.paths}


def edit_stack(world, edit) -> None:
    data = world.read("all.yml")
    edit(data["stack"])
    world.write("all.yml", data)


def sample_spec(metrics_file: str | None = None):
    model = model_for("sandbox")
    return snapshot_spec(model, render_stack(model), metrics_file)


def assert_no_backups(spec) -> None:
    """Nothing of the backup job is watched, and the spec names no backup file."""
    assert by_path(spec) == {p.path: p for p in STACK_PATHS}
    assert (spec.backup_log, spec.metrics_file, spec.verify_metrics_file) == (None, None, None)
    assert (spec.cron_files, spec.backup_dir, spec.backup_patterns, spec.backup_databases) == ((), None, (), ())


def test_each_watched_path_of_a_sample_stack_has_exactly_its_role_and_ownership(world):
    def edit(stack):
        stack["services"]["prometheus"]["enabled"] = True  # its rendered prometheus.yml is mounted :ro
        stack["services"]["api"]["volumes"] = [
            # a folder the deploy creates, mounted read-write
            {"source": "${STACK_DIR}/uploads", "target": "/uploads", "kind": "dir", "owner": "1000", "group": "1001",
             "mode": "0750"},
            # host files the deploy does not write: one read-write, one read-only
            {"source": "/srv/shared/app.db", "target": "/data/app.db", "kind": "file", "owner": "1000",
             "group": "1000", "mode": "0660"},
            {"source": "/srv/shared/ca.pem", "target": "/etc/ca.pem", "read_only": True, "kind": "file",
             "owner": "root", "group": "root", "mode": "0640"},
        ]

    edit_stack(world, edit)
    spec = sample_spec()
    expected = STACK_PATHS + BACKUP_PATHS + [
        rooted(f"{STACK_DIR}/prometheus", "dir", "dir", "0755"),
        rooted(f"{STACK_DIR}/prometheus/prometheus.yml", "file", "file", "0644", read_only=True),
        PathSpec(f"{STACK_DIR}/uploads", "dir", "dir", "0750", "1000", "1001"),  # read-write: not read-only
        PathSpec("/srv/shared/app.db", "file", "mount", "0660", "1000", "1000"),
        PathSpec("/srv/shared/ca.pem", "file", "mount", "0640", "root", "root", read_only=True),
        PathSpec(METRICS, "file", "metrics"),
    ]
    assert by_path(spec) == {p.path: p for p in expected}
    assert (spec.host, spec.project, spec.stack_dir) == ("docker-1", "solacore", STACK_DIR)
    assert (spec.compose_file, spec.env_file) == (f"{STACK_DIR}/compose.yml", f"{STACK_DIR}/.env")
    assert (spec.key_file, spec.releases_dir) == (f"{STACK_DIR}/.mooring/snapshot.key", f"{STACK_DIR}/releases")
    assert (spec.backup_log, spec.metrics_file, spec.verify_metrics_file) == (LOG, METRICS, VERIFY_METRICS)
    assert (spec.cron_files, spec.backup_dir) == ((CRON_FILE,), BACKUP_DIR)
    assert (spec.backup_patterns, spec.backup_databases) == ((PATTERN,), ("readme_to_recover",))


def test_each_compose_service_is_watched_with_its_image_healthcheck_and_restart_policy(world):
    edit_stack(world, lambda stack: stack["services"]["redis"].update(restart="on-failure"))
    assert sample_spec().services == (
        ServiceSpec("api", "mooring/api:1.0.0", True, "unless-stopped"),
        ServiceSpec("db", "mooring/postgres:15", True, "unless-stopped"),
        ServiceSpec("redis", "mooring/redis:7", True, "on-failure"),
        ServiceSpec("nginx", "mooring/nginx:1", False, "unless-stopped"),  # declares no healthcheck
    )


def test_a_metrics_file_given_replaces_the_default_backup_textfile(world):
    spec = sample_spec("/srv/metrics/backup.prom")
    assert spec.metrics_file == "/srv/metrics/backup.prom"
    assert spec.path("/srv/metrics/backup.prom") == PathSpec("/srv/metrics/backup.prom", "file", "metrics")
    assert spec.path(METRICS) is None
    assert spec.path(VERIFY_METRICS) == PathSpec(VERIFY_METRICS, "file", "metrics")  # the drill's stays


def test_backups_disabled_watch_no_backup_file(world):
    edit_stack(world, lambda stack: stack["backups"].update(enabled=False))
    assert_no_backups(sample_spec("/srv/metrics/backup.prom"))


def test_backups_enabled_without_a_database_service_watch_no_backup_file(world):
    edit_stack(world, lambda stack: stack["services"]["db"].update(role="other"))  # no postgres/mysql to dump
    model = model_for("sandbox")
    assert model.stack.backups.enabled and model.stack.backups.service is None
    assert_no_backups(snapshot_spec(model, render_stack(model), "/srv/metrics/backup.prom"))


def test_a_mounted_releases_folder_is_watched_once_as_the_mount_declares_it(world):
    edit_stack(world, lambda stack: stack["services"]["api"].update(volumes=[
        {"source": "${STACK_DIR}/releases", "target": "/releases", "read_only": True, "kind": "dir"}]))
    spec = sample_spec()
    assert by_path(spec)[f"{STACK_DIR}/releases"] == PathSpec(f"{STACK_DIR}/releases", "dir", "mount",
                                                              read_only=True)
    assert spec.releases_dir == f"{STACK_DIR}/releases"


def test_a_host_without_a_stack_is_refused_naming_file_key_and_fix(world):
    data = world.read("all.yml")
    del data["stack"]
    world.write("all.yml", data)
    sandbox = world.read("sandbox.yml")
    del sandbox["stack"]
    world.write("sandbox.yml", sandbox)
    model = model_for("sandbox")
    assert model.stack is None
    with pytest.raises(ConfigError) as raised:
        snapshot_spec(model, RenderedStack([], []))
    [problem] = raised.value.problems
    # The host's most specific layer (no host file here: its group's) is where a stack would go.
    assert (problem.file, problem.path, problem.message, problem.fix) == (
        str(world.layer("sandbox.yml")), "stack", "docker-1 declares no stack",
        "declare a stack for the host, or leave it out of the snapshot")
    assert str(raised.value) == (f"{world.layer('sandbox.yml')}: stack: docker-1 declares no stack "
                                 "(fix: declare a stack for the host, or leave it out of the snapshot)")
