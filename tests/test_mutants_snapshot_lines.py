"""The snapshot script's Compose part (checks/snapshot.py ``snapshot_script``) run for real with
``sh``, host-free: a ``docker-compose`` on PATH is reported with its version and Debian package
(a 1.x one is Compose v1, a standalone 2.x one is not); the compose plugin ``docker compose``
would run is found in the docker CLI's own search order, system folders included, and run for
its version; every pip or Debian install of Compose 1.x (``docker_compose-*`` in each
dist-/site-packages folder the script knows) is reported. The host's system folders are stood
in for by a temporary folder: the script's absolute host paths are rooted there.

Also what the snapshot refuses to watch (``snapshot_spec``'s checks): a value the tab-separated
report could not carry (a control character in a mount source; a newline in the stack name, a
database, an image or the backup folder, which the schema refuses first) is refused naming the
layer file that declares it, its key, the value and the fix; a
relative metrics textfile is refused as not absolute; and a stack .env key no service receives
is still watched (as optional, used by no service). And a report read back: with no record of a
part, that part reads as unknown/absent; a container's name loses only its leading ``/``.
Written for the mutation run (docs/mutation.md)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from mooring.checks.snapshot import (EngineState, EnvKeySpec, HostSnapshot, PathSpec, ServiceState, _check_spec,
                                     parse_snapshot, snapshot_script, snapshot_spec)
from mooring.declare.errors import ConfigError, ConfigProblem
from mooring.declare.render import render_stack
from tests.declared_world import model_for
from tests.test_mutants_snapshot_script import lay_out_stack, run, stack_spec

#: A stand-in docker CLI: the engine answers, the project has no container, no image is found.
FAKE_DOCKER = """#!/bin/sh
case $1 in
version) echo 27.3.1 ;;
inspect) exit 1 ;;
esac
"""
#: A stand-in Compose (plugin or standalone binary): answers ``version --short`` as Compose does.
FAKE_COMPOSE = """#!/bin/sh
if [ "$*" = "version --short" ]; then echo {version}; fi
"""
#: A stand-in dpkg: ``dpkg -S PATH`` names the package owning PATH, as dpkg prints it.
FAKE_DPKG = """#!/bin/sh
if [ "$1" = -S ]; then printf 'docker-compose: %s\\n' "$2"; fi
"""


def program(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def snapshot_engine(tmp_path: Path, bin_dir: Path, root: Path | None = None) -> EngineState:
    """Run the whole snapshot script of a small stack folder with ``bin_dir`` first on the
    script's own PATH (a bare remote shell: no PATH of the caller's, an empty home); with
    ``root``, the host's system folders the script looks in are those under ``root``."""
    stack, home = tmp_path / "stack", tmp_path / "home"
    lay_out_stack(stack, locked=False)
    home.mkdir()
    program(bin_dir / "docker", FAKE_DOCKER)
    script = snapshot_script(stack_spec(stack))
    assert script.count("\nPATH=/usr/local/sbin:") == 1
    script = script.replace("\nPATH=/usr/local/sbin:", f"\nPATH={bin_dir}:/usr/local/sbin:")
    if root is not None:  # every host path the script lists as a word (quoted or not): plugin and pip folders
        script = re.sub(r"(?<=[ \"'])/usr/", f"{root}/usr/", script)
    out = run(script, tmp_path, {"HOME": str(home), "TMPDIR": str(tmp_path)})
    assert (out.returncode, out.stderr) == (0, "")
    snap = parse_snapshot(out.stdout)
    assert (snap.complete, snap.warnings) == (True, ())
    return snap.engine


def test_a_compose_1_on_path_is_reported_with_its_version_and_package_as_v1(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    v1 = program(bin_dir / "docker-compose", FAKE_COMPOSE.format(version="1.29.2"))
    program(bin_dir / "dpkg", FAKE_DPKG)
    engine = snapshot_engine(tmp_path, bin_dir)
    assert (engine.docker, engine.engine) == ("present", "27.3.1")
    assert (engine.v1_path, engine.v1_version, engine.v1_package, engine.v1_pip) == (
        str(v1), "1.29.2", "docker-compose", ())
    assert engine.has_v1


def test_a_standalone_compose_2_on_path_is_reported_and_is_not_v1(tmp_path: Path) -> None:
    """No package owns it (dpkg knows nothing of it): the package is left empty."""
    bin_dir = tmp_path / "bin"
    v2 = program(bin_dir / "docker-compose", FAKE_COMPOSE.format(version="v2.29.7"))
    program(bin_dir / "dpkg", "#!/bin/sh\necho 'dpkg-query: no path found matching pattern' >&2\nexit 1\n")
    engine = snapshot_engine(tmp_path, bin_dir)
    assert (engine.v1_path, engine.v1_version, engine.v1_package) == (str(v2), "2.29.7", None)
    assert not engine.has_v1


def test_without_compose_on_path_nothing_of_v1_is_reported(tmp_path: Path) -> None:
    engine = snapshot_engine(tmp_path, tmp_path / "bin", root=tmp_path / "host")
    assert (engine.v1_path, engine.v1_version, engine.v1_package, engine.v1_pip, engine.has_v1) == (
        None, None, None, (), False)
    assert (engine.compose_plugin, engine.compose) == (None, None)


def test_the_system_compose_plugin_is_found_in_the_docker_clis_order_and_run(tmp_path: Path) -> None:
    """Nothing in the user's folder: the first system plugin folder holding one wins (the one
    ``docker compose`` runs), and its version is that plugin's answer."""
    root = tmp_path / "host"
    plugins = root / "usr/local/libexec/docker/cli-plugins"
    first = program(plugins / "docker-compose", FAKE_COMPOSE.format(version="v2.29.7"))
    program(root / "usr/libexec/docker/cli-plugins/docker-compose", FAKE_COMPOSE.format(version="v2.20.0"))
    engine = snapshot_engine(tmp_path, tmp_path / "bin", root=root)
    assert (engine.compose_plugin, engine.compose, engine.compose_v2) == (str(first), "2.29.7", True)


def test_the_last_system_compose_plugin_folder_is_searched_too(tmp_path: Path) -> None:
    root = tmp_path / "host"
    plugin = program(root / "usr/lib/docker/cli-plugins/docker-compose", FAKE_COMPOSE.format(version="2.24.1"))
    engine = snapshot_engine(tmp_path, tmp_path / "bin", root=root)
    assert (engine.compose_plugin, engine.compose) == (str(plugin), "2.24.1")


def test_every_python_install_of_compose_1_is_reported(tmp_path: Path) -> None:
    """A Debian package's egg-info, a pip install in a local dist-packages and in a local
    site-packages: each one found, and the host has Compose v1 even without a binary on PATH."""
    root = tmp_path / "host"
    installs = [root / "usr/lib/python3/dist-packages/docker_compose-1.29.2.egg-info",
                root / "usr/local/lib/python3.11/dist-packages/docker_compose-1.25.0.dist-info",
                root / "usr/local/lib/python3.9/site-packages/docker_compose-1.29.2.dist-info"]
    for folder in installs:
        folder.mkdir(parents=True)
    (root / "usr/local/lib/python3.11/dist-packages/docker_composer-0.1.dist-info").mkdir()  # another package
    engine = snapshot_engine(tmp_path, tmp_path / "bin", root=root)
    assert engine.v1_pip == tuple(str(folder) for folder in installs)
    assert engine.v1_path is None and engine.has_v1


# --- what the snapshot refuses to watch ---------------------------------------------------------------

UNSAFE = "holds a control character or a backslash: the host snapshot cannot report it unambiguously"


def refused(world, metrics_file: str | None = None) -> list[ConfigProblem]:
    """The problems of the sandbox host's snapshot spec, with a host layer after the group layers
    (so that no problem is blamed on the last layer read by default)."""
    world.write("hosts/docker-1.yml", {"stack": {"env": {"APP_VERSION": "1.0.1"}}})
    model = model_for("sandbox")
    assert [Path(f).name for f in model.merged.files] == ["all.yml", "sandbox.yml", "docker-1.yml"]
    with pytest.raises(ConfigError) as raised:
        snapshot_spec(model, render_stack(model), metrics_file)
    return raised.value.problems


def edit(world, layer: str, change) -> str:
    data = world.read(layer)
    change(data["stack"])
    world.write(layer, data)
    return str(world.layer(layer))


def test_a_mount_source_with_a_control_character_is_refused_naming_its_layer_key_and_fix(world) -> None:
    """Declared in the environment's layer, after a named volume: the problem names that layer
    and that mount, not the group layer the other services' mounts come from."""
    def mount(stack):
        stack["services"]["redis"]["volumes"] = [{"source": "redisdata", "target": "/data"},
                                                 {"source": "/srv/redis\x01old", "target": "/import"}]

    layer = edit(world, "sandbox.yml", mount)
    assert refused(world) == [ConfigProblem(layer, "stack.services.redis.volumes.1.source",
                                            f"'/srv/redis\\x01old' {UNSAFE}", "rename it with plain characters")]


def _api_image(spec, value):
    return replace(spec, services=tuple(replace(s, image=value) if s.name == "api" else s for s in spec.services))


@pytest.mark.parametrize("layer, key, value, change, spoil", [
    ("all.yml", "stack.name", "solacore\n", lambda stack: stack.update(name="solacore"),
     lambda spec, value: replace(spec, project=value)),
    ("all.yml", "stack.backups.databases", "readme_to_recover\n",
     lambda stack: stack["backups"].update(databases=["readme_to_recover"]),
     lambda spec, value: replace(spec, backup_databases=(value,))),
    ("sandbox.yml", "stack.services.api.image", "mooring/api:1\n",
     lambda stack: stack["services"]["api"].update(image="mooring/api:1"), _api_image),
    ("all.yml", "stack.backups.directory", "/var/backups/mooring/solacore\n",
     lambda stack: stack["backups"].update(directory="/var/backups/mooring/solacore"),
     lambda spec, value: replace(spec, paths=spec.paths + (PathSpec(value, "dir", "dir"),))),
], ids=["stack-name", "database", "image", "backup-folder"])
def test_a_value_the_report_cannot_carry_is_refused_past_the_schema(world, layer, key, value, change, spoil) -> None:
    """The schema refuses a value ending in a newline first (tests/bad_inputs/schema.yml); the
    snapshot's own check is the second line: such a value in the spec is refused naming the layer
    that declares the key, the key, the value and the fix."""
    path = edit(world, layer, change)
    world.write("hosts/docker-1.yml", {"stack": {"env": {"APP_VERSION": "1.0.1"}}})
    model = model_for("sandbox")
    spec = snapshot_spec(model, render_stack(model))
    with pytest.raises(ConfigError) as raised:
        _check_spec(spoil(spec, value), model)
    assert [p for p in raised.value.problems if p.path == key] == [
        ConfigProblem(path, key, f"{value!r} {UNSAFE}", "rename it with plain characters")]


def test_a_relative_metrics_textfile_is_refused_as_not_absolute(world) -> None:
    layer = str(world.layer("all.yml"))
    assert refused(world, "metrics/backup.prom") == [
        ConfigProblem(layer, "bootstrap.base_dir", "'metrics/backup.prom' is not an absolute path",
                      "declare an absolute host path (or ${STACK_DIR}/...)")]


def test_a_stack_env_key_no_service_receives_is_watched_as_optional(world) -> None:
    edit(world, "all.yml", lambda stack: stack["env"].update(FEATURE_FLAG="on"))
    model = model_for("sandbox")
    keys = {k.key: k for k in snapshot_spec(model, render_stack(model)).env_keys}
    assert keys["FEATURE_FLAG"] == EnvKeySpec("FEATURE_FLAG", False, False, ())
    assert keys["REDIS_URL"] == EnvKeySpec("REDIS_URL", True, False, ("api",))


# --- a report read back -------------------------------------------------------------------------------

def test_a_report_of_only_its_header_reads_as_nothing_found() -> None:
    """No record of a part: its state is the unknown/absent one (no .env, no key, cron daemon
    unknown, no backups declared, no deploy lock), as a HostSnapshot built with no value says."""
    assert parse_snapshot("snapshot\t1\tdocker-1\t1700000000\nend\n") == HostSnapshot(
        "docker-1", 1, 1700000000, complete=True)


def test_a_report_without_its_header_names_no_host_and_no_format() -> None:
    assert parse_snapshot("end\n") == HostSnapshot("", 0, None, complete=True)


def test_a_containers_name_is_shown_as_docker_shows_it() -> None:
    """Only the leading ``/`` of docker inspect's name goes (a name given with ``docker compose run
    --name`` may start with any letter)."""
    values = ['"/Xport-job"', '"id1"', '"api"', '"exited"', '"none"', '"sha256:api"', '"api:1"', '"2026-01-01"', "0",
              "0", '"True"']
    record = "\t".join(["container", "1", *values, "none"])
    snap = parse_snapshot(f"snapshot\t1\tdocker-1\t1700000000\n{record}\nend\n")
    assert (snap.complete, snap.warnings) == (True, ())
    assert snap.services == (
        ServiceState("api", "Xport-job", "id1", "exited", "none", "sha256:api", "api:1", "2026-01-01", 0, 0, True),)
