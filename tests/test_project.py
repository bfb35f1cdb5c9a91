"""The project is found from the working directory (or ``--project`` / ``MOORING_PROJECT``),
never from where mooring is installed: a second checkout never reads the first's files, and a
folder that is no project says so. Through the real CLI, in processes of their own."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mooring.declare.paths import ROOT, find_project

MARK = "only_in_project_b"


@pytest.fixture
def project_b(tmp_path) -> Path:
    """A second checkout: mooring's group_data and inventories, its staging layer with a key of its own."""
    project = tmp_path / "ops-b"
    for folder in ("group_data", "inventories"):
        shutil.copytree(ROOT / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__"))
    staging = project / "group_data" / "staging.yml"
    staging.write_text(staging.read_text() + f"\n{MARK}: 1\n")
    return project


def validate(cwd: Path, *args: str, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess, dict]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("MOORING_SECRET_", "MOORING_GROUP_DATA", "MOORING_STATE", "MOORING_PROJECT"))}
    out = subprocess.run([sys.executable, "-m", "mooring", *args, "validate", "staging", "--json", "-"], cwd=cwd,
                         env={**clean, "PYTHONPATH": str(ROOT), **(env or {})}, capture_output=True, text=True,
                         timeout=120, stdin=subprocess.DEVNULL)
    return out, (json.loads(out.stdout) if out.stdout.strip().startswith("{") else {})


def paths_of(payload: dict) -> set[str]:
    return {f["path"] for f in payload.get("findings", [])}


def test_each_checkout_reads_its_own_files(project_b):
    out, theirs = validate(project_b / "inventories")  # a subfolder: found upwards, as git does
    assert out.returncode == 1 and MARK in paths_of(theirs), out.stdout + out.stderr
    # Without that key: its secrets are looked for in its own state folder, not in mooring's checkout.
    staging = project_b / "group_data" / "staging.yml"
    staging.write_text(staging.read_text().replace(f"\n{MARK}: 1\n", "\n"))
    _, theirs = validate(project_b)
    assert any(str(project_b / ".mooring" / "secrets" / "staging.env") in f["fix"] for f in theirs["findings"]), theirs
    _, ours = validate(ROOT)
    assert MARK not in paths_of(ours)
    assert not any(str(project_b) in f["fix"] for f in ours["findings"])


@pytest.mark.parametrize("how", ["--project", "MOORING_PROJECT"])
def test_the_project_can_be_named_from_anywhere(project_b, tmp_path, how):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    if how == "--project":
        out, payload = validate(elsewhere, "--project", str(project_b))
    else:
        out, payload = validate(elsewhere, env={"MOORING_PROJECT": str(project_b)})
    assert MARK in paths_of(payload), out.stdout + out.stderr


def test_a_folder_that_is_no_project_says_so_and_how_to_fix_it(tmp_path):
    out, _ = validate(tmp_path)
    assert out.returncode == 1
    assert f"{tmp_path} is not inside a mooring project (no group_data/all.yml here or above)" in out.stderr
    assert "--project DIR" in out.stderr and "Traceback" not in out.stderr
    out, _ = validate(tmp_path, "--project", str(tmp_path))
    assert out.returncode == 1 and "is not a mooring project" in out.stderr


def test_find_project_walks_up_to_the_nearest_declared_state(project_b):
    assert find_project(project_b / "inventories") == project_b.resolve()
    assert find_project(project_b.parent) is None


def test_init_scaffolds_a_project_that_validates_and_never_overwrites(tmp_path):
    target = tmp_path / "our-ops"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MOORING_")}
    init = subprocess.run([sys.executable, "-m", "mooring", "init", str(target)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, env={**clean, "PYTHONPATH": str(ROOT)}, stdin=subprocess.DEVNULL)
    assert init.returncode == 0, init.stderr
    assert (target / ".gitignore").read_text().splitlines()[0] == ".mooring/"
    assert find_project(target / "inventories") == target.resolve()
    secrets = {"MOORING_SECRET_POSTGRES_PASSWORD": "Init4Pg7Pass2Word9Long", "MOORING_SECRET_JWT_SECRET": "Init8Jwt1Secret5Value6Z"}
    out, payload = validate(target, env=secrets)
    assert out.returncode == 0, out.stdout + out.stderr
    assert payload["inventory"] == str(target / "inventories" / "staging.py")
    # A second init changes nothing and says why.
    (target / "group_data" / "staging.yml").write_text("environment: staging\n# ours now\n")
    again = subprocess.run([sys.executable, "-m", "mooring", "init", str(target)], cwd=tmp_path, capture_output=True,
                           text=True, timeout=60, env={**clean, "PYTHONPATH": str(ROOT)}, stdin=subprocess.DEVNULL)
    assert again.returncode == 1 and "never overwrites" in again.stderr
    assert (target / "group_data" / "staging.yml").read_text() == "environment: staging\n# ours now\n"
