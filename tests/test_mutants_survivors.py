"""Behaviour the mutation run (docs/mutation.md) found unpinned, host-free: the restore drill's
finding names its file, its age in whole hours; a metrics textfile's comments and labels; the
snapshot script's docker part (run for real, with a stand-in docker that answers like one); a
team's compose files: secrets of the host's own next to a repo file, an environment entry
without a value, and secret values never shown in a DATABASE_URL finding (the longest first)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from mooring.checks.findings import Outcome
from mooring.checks.live import backup_verify
from mooring.checks.preflight import check_model
from mooring.checks.snapshot import ImageState, MetricsState, parse_snapshot, snapshot_key, snapshot_script
from mooring.declare.render import drill_metrics_path, render_stack
from tests.declared_world import ROOT, SECRETS, model_for
from tests.live_world import DAY, NOW, said
from tests.test_compose_files import SHOP, compose_world
from tests.test_mutants_live import drill_view
from tests.test_snapshot import STACK_DIR, lay_out, relocate, sandbox

LABEL = '{stack="solacore"}'


# --- the restore drill (live.backups.verify) ------------------------------------------------------

def test_a_drill_that_never_ran_names_the_drills_metrics_file(world):
    weekly = "0 3 * * 0"
    resource = f"file:{drill_metrics_path(model_for('sandbox').stack)}"
    for cron_age, outcome in ((DAY, "warning"), (30 * DAY, "failed")):
        [found] = backup_verify(drill_view(world, schedule=weekly, cron_age=cron_age))
        assert (found.outcome.value, found.resource) == (outcome, resource)


def test_a_late_drill_says_its_age_in_whole_hours_and_names_the_drills_metrics_file(world):
    """A drill that stopped running 100 days ago: 2400 h, not a rounding of another hour."""
    daily = "0 3 * * *"
    view = drill_view(world, f"mooring_backup_last_verify_success{LABEL} 1",
                      f"mooring_backup_last_verify_timestamp_seconds{LABEL} {NOW - 100 * DAY}", schedule=daily)
    [found] = backup_verify(view)
    assert said([found]) == [
        ("live.backups.verify", "failed", f"file:{drill_metrics_path(view.stack)}",
         f"the last restore drill ran 2400 h ago; its schedule ({daily}) runs it at least every 24 h",
         "read the drill's log and run it: mooring backup verify", "stack.backups.verify_schedule", found.file,
         "within 26 h", "2400 h ago")]
    assert found.file.endswith("sandbox.yml")


# --- a metrics textfile ---------------------------------------------------------------------------

def test_metrics_samples_leave_comments_out_and_keep_labels_with_spaces():
    """Comments are never samples, even a commented-out sample or a HELP text ending in a number;
    the value is the line's last word, so a label value may hold spaces."""
    state = MetricsState("/v.prom", "read", (
        "# HELP mooring_backup_last_verify_success 1 if the last drill restored every dump whole, else 0",
        "# TYPE mooring_backup_last_verify_success gauge",
        f"# mooring_backup_last_verify_success{LABEL} 1",
        f"mooring_backup_last_verify_success{LABEL} 0",
        "",
        'node_textfile_note{text="restored at night"} 3',
    ))
    assert state.samples() == {f"mooring_backup_last_verify_success{LABEL}": 0.0,
                               'node_textfile_note{text="restored at night"}': 3.0}


# --- the snapshot script's docker part, with a stand-in docker ------------------------------------

FAKE_DOCKER = """#!/bin/sh
# A stand-in docker CLI: the engine answers, has the images {known} and no container of the project.
printf '%s\\n' "$*" >> {calls}
case $1 in
version) echo 27.3.1 ;;
ps) ;;
inspect)
	shift 3  # inspect --format FMT
	[ "$1" = -- ] && shift
	rc=0
	for ref in "$@"; do
		case " {known} " in
		*" $ref "*) printf 'I\\t["%s"]\\t[]\\t"sha256:%s"\\n' "$ref" "$(printf %s "$ref" | sha256sum | cut -c1-64)" ;;
		*) echo "Error: No such object: $ref" >&2; rc=1 ;;
		esac
	done
	exit $rc ;;
esac
"""


def test_the_snapshot_reads_every_declared_image_from_one_docker_inspect(world, tmp_path):
    """The script asks docker inspect for each declared image (one argument each) and reports
    every image the engine has: the images live.images compares with the declared ones."""
    model, rendered, spec = sandbox()
    root = tmp_path / "host"
    lay_out(rendered, root, snapshot_key("docker-1", STACK_DIR))
    spec = relocate(spec, root)
    refs = sorted({s.image for s in spec.services})
    assert len(refs) > 2
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(FAKE_DOCKER.format(known=" ".join(refs), calls=calls))
    (bin_dir / "docker").chmod(0o755)
    script = snapshot_script(spec)
    assert script.count("\nPATH=/usr/local/sbin:") == 1
    script = script.replace("\nPATH=/usr/local/sbin:", f"\nPATH={bin_dir}:/usr/local/sbin:")
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    snap = parse_snapshot(out.stdout)
    assert (snap.engine.docker, snap.engine.engine) == ("present", "27.3.1")
    assert [(i.tags, i.digests) for i in snap.images] == [((ref,), ()) for ref in refs]
    assert all(isinstance(i, ImageState) and i.id.startswith("sha256:") for i in snap.images)
    inspect = [line for line in calls.read_text().splitlines() if line.startswith("inspect ")]
    assert len(inspect) == 1 and inspect[0].endswith(" -- " + " ".join(refs))
    assert snap.warnings == ()


# --- a team's compose files -----------------------------------------------------------------------

@pytest.fixture
def shop_project(world, monkeypatch) -> Path:
    """The shop's compose files copied into the world's folder, which becomes the project (its
    own override files may then be written next to them)."""
    shutil.copytree(ROOT / SHOP, world.root / "shop")
    monkeypatch.setenv("MOORING_PROJECT", str(world.root))
    return world.root / "shop"


def use_shop(world, project: Path, override: dict) -> None:
    (project / "override.yml").write_text(yaml.safe_dump(override))
    compose_world(world, files=["shop/docker-compose.yml", "shop/docker-compose.ops.yml", "shop/override.yml"])
    data = world.read("all.yml")
    data["stack"]["compose"].update({"mounts": {"./nginx": {"owner": "root", "group": "root", "mode": "0755"}},
                                     "secrets": {"pg_password": "POSTGRES_PASSWORD"}})
    world.write("all.yml", data)


def url_findings(model) -> list[tuple[str, str, str]]:
    return [(f.path, f.message, f.fix) for f in check_model(model)
            if f.check == "consistency.database_url" and f.outcome is Outcome.FAILED]


def test_a_secret_file_of_the_repo_is_written_even_after_a_secret_of_the_hosts_own(world, shop_project):
    """``host_cert`` (a file on the host, sorted first) is left to the host; ``pg_password`` (a
    file of the repo) is still written from the stack's secret."""
    use_shop(world, shop_project, {"services": {"nginx": {"secrets": ["host_cert"]}},
                                   "secrets": {"host_cert": {"file": "/etc/ssl/private/host.pem"}}})
    model = model_for("staging")
    assert model.stack.compose.secret_files == {"pg_password": ("./secrets/pg_password", "POSTGRES_PASSWORD")}
    [written] = [f for f in render_stack(model).files if "/secrets/" in f.path]
    assert (written.path, written.secret) == ("/srv/mooring/solacore/secrets/pg_password", True)
    assert written.content.strip() == SECRETS["staging"]["POSTGRES_PASSWORD"]


def test_an_environment_entry_without_a_value_is_empty(world, shop_project):
    """``POSTGRES_USER:`` with no value (none in the stack env either) is empty for the container,
    and the DATABASE_URL finding says so."""
    use_shop(world, shop_project, {"services": {
        "api": {"environment": {"DATABASE_URL": "postgresql://shop:${POSTGRES_PASSWORD}@db:5432/${POSTGRES_DB}",
                                "PASSED_FROM_SHELL": None}},
        "db": {"environment": {"POSTGRES_USER": None}}}})
    data = world.read("all.yml")
    for key in ("POSTGRES_USER", "DATABASE_URL"):  # the api's URL is the compose file's
        del data["stack"]["env"][key]
    world.write("all.yml", data)
    model = model_for("staging")
    assert model.stack.services["api"].environment["PASSED_FROM_SHELL"] == ""
    assert model.stack.services["db"].environment["POSTGRES_USER"] == ""
    assert url_findings(model) == [("services.api.environment.DATABASE_URL",
                                    "DATABASE_URL: user 'shop' is not POSTGRES_USER ''",
                                    "use ${POSTGRES_USER} in the URL")]


def test_a_secret_that_embeds_another_is_masked_whole(world, shop_project):
    """POSTGRES_PASSWORD holds JWT_SECRET inside it: the longer secret is masked first, so no
    piece of it is shown when a DATABASE_URL with a typo (no @ before the host) is reported."""
    jwt = SECRETS["staging"]["JWT_SECRET"]
    world.set_secret("staging", "POSTGRES_PASSWORD", f"Pg5{jwt}")  # sorts before JWT_SECRET, and is longer
    use_shop(world, shop_project, {"services": {"api": {"environment": {
        "DATABASE_URL": "postgresql://${POSTGRES_USER}:${POSTGRES_PASSWORD}db:5432/${POSTGRES_DB}"}}}})
    model = model_for("staging")
    found = url_findings(model)
    assert found == [(
        "services.api.environment.DATABASE_URL",
        "DATABASE_URL is not an URL (Port could not be cast to integer value as '***db:5432')",
        "write postgresql://USER:PASSWORD@HOST:5432/DBNAME")]
    assert not [s for s in model.stack.secret_values() for _, message, _ in found if s in message]


def test_a_password_with_a_slash_is_the_one_part_of_the_url_reported(world, shop_project):
    """A generated password holding '/' that the URL does not encode: the URL's password is not
    POSTGRES_PASSWORD (an URL parser ends the host at the '/'); its user and database, read from
    the URL with the secret masked, are the database's, and are not reported."""
    world.set_secret("staging", "POSTGRES_PASSWORD", "Stag1/Pg5Pass0Word8Long")
    use_shop(world, shop_project, {"services": {"db": {"environment": {"POSTGRES_PASSWORD": "${POSTGRES_PASSWORD}"}}}})
    assert url_findings(model_for("staging")) == [
        ("services.api.environment.DATABASE_URL", "DATABASE_URL: the password is not POSTGRES_PASSWORD",
         "use ${POSTGRES_PASSWORD} in the URL")]


def test_an_empty_key_a_compose_service_requires_names_that_service(world, shop_project):
    """``stack.compose.services.api.required_env: [TZ]`` with TZ declared empty (allow_empty): the
    finding names the service that requires it, in its message and its fix (it once named the
    key path's third part, ``services``)."""
    use_shop(world, shop_project, {})
    data = world.read("all.yml")
    data["stack"]["compose"]["services"] = {"api": {"required_env": ["TZ"]}}
    data["stack"]["env"]["TZ"] = {"value": "", "allow_empty": True}
    world.write("all.yml", data)
    found = [(f.path, f.message, f.fix) for f in check_model(model_for("staging"))
             if f.check == "env.complete" and f.outcome is Outcome.FAILED]
    assert found == [("stack.env.TZ", "TZ is empty (the declared value is empty) but api needs it",
                      "give it a value: api demands it not empty (required_env, or ${TZ:?...})")]
