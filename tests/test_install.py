"""mooring installed from its wheel, in a fresh virtualenv, used from a team's empty folder.

The wheel is built from the repository's files (as a release would be) and installed with no
checkout in reach: ``mooring init`` then ``mooring validate`` must work from the installed files
alone (templates, group data, inventories are package data), the layers must be
``mooring.checks``/``mooring.declare``/``mooring.deploy`` (a team's own ``deploy/`` or ``checks``
never shadows them, and mooring never shadows theirs), and the project's own deploy files must
run mooring's through plain pyinfra's loader.

The fresh virtualenv gets mooring from the wheel only; its dependencies (pyinfra, jinja2...) are
the test environment's, reached through a ``.pth`` file written after the install, so nothing is
downloaded and the test environment's own (editable) mooring is never seen: a ``.pth`` file in a
path that a ``.pth`` file adds is not read, so the editable install's finder stays inactive.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SECRETS = {"MOORING_SECRET_POSTGRES_PASSWORD": "Wheel4Pg7Pass2Word9Long",
           "MOORING_SECRET_JWT_SECRET": "Wheel8Jwt1Secret5Value6Z"}


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MOORING_", "PYTHONPATH", "VIRTUAL_ENV"))}
    return subprocess.run(cmd, cwd=cwd, env={**clean, **(env or {})}, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def _release_files() -> list[str]:
    """The files a release is built from: tracked or new, never ignored (.venv, .mooring, caches)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout
    return [name for name in listed.split("\0") if name and (ROOT / name).is_file()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    for name in _release_files():
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((ROOT / name).read_bytes())
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work / "dist"), str(source)], work)
    assert built.returncode == 0, built.stdout + built.stderr
    (found,) = (work / "dist").glob("mooring-*.whl")
    return found


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh virtualenv holding mooring from the wheel, its dependencies from the test environment."""
    env = tmp_path_factory.mktemp("venv") / "fresh"
    made = _run([sys.executable, "-m", "venv", "--without-pip", str(env)], env.parent)
    assert made.returncode == 0, made.stderr
    python = env / "bin" / "python"
    installed = _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
                     env.parent)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], env.parent)
    (Path(purelib.stdout.strip()) / "zz_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return env


def test_the_wheel_holds_the_layers_and_mooring_s_files_under_mooring(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    tops = {name.split("/")[0] for name in names if not name.startswith("mooring-")}
    assert tops == {"mooring"}, tops  # no top-level checks/, declare/, deploy/ to shadow a team's own
    for expected in ("mooring/checks/preflight.py", "mooring/declare/model.py", "mooring/deploy/stack.py",
                     "mooring/deploy/facts/snapshot.py", "mooring/deploy/roles/stack.py", "mooring/templates/compose.yml.j2",
                     "mooring/group_data/all.yml", "mooring/inventories/sandbox.py", "mooring/images/box/Dockerfile",
                     "mooring/examples/api/README.md"):
        assert expected in names, expected
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


def test_installed_mooring_imports_from_the_virtualenv_only(venv, tmp_path):
    code = ("import importlib.util, json, mooring, mooring.checks.preflight as p, mooring.deploy.facts.stack as f\n"
            "print(json.dumps([mooring.__file__, p.__file__, f.__file__,"
            " [importlib.util.find_spec(n) is None for n in ('checks', 'declare', 'deploy')]]))")
    out = _run([str(venv / "bin" / "python"), "-c", code], tmp_path)
    assert out.returncode == 0, out.stderr
    *files, absent = json.loads(out.stdout)
    assert all(Path(name).is_relative_to(venv) for name in files), files
    assert absent == [True, True, True]


def test_init_then_validate_in_an_empty_folder(venv, tmp_path):
    project = tmp_path / "our-ops"
    project.mkdir()
    # The team's own modules named like mooring's layers: mooring must never import them.
    (project / "deploy").mkdir()
    (project / "deploy" / "__init__.py").write_text("raise SystemExit('the team deploy package was imported')\n")
    (project / "checks.py").write_text("raise SystemExit('the team checks module was imported')\n")
    mooring = str(venv / "bin" / "mooring")
    init = _run([mooring, "init"], project)
    assert init.returncode == 0, init.stdout + init.stderr
    assert {"group_data/all.yml", "inventories/staging.py", "deploy/stack.py", ".gitignore"} <= {
        str(p.relative_to(project)) for p in project.rglob("*") if p.is_file()}
    ran = _run([mooring, "validate", "staging", "--json", "-"], project, env=SECRETS)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    report = json.loads(ran.stdout)
    assert report["ok"] and report["inventory"] == str(project / "inventories" / "staging.py")
    rendered = [f for f in report["findings"] if f["check"].startswith("render.") and f["outcome"] == "passed"]
    assert rendered, "the installed templates were never rendered"
    # Without the secrets: checked all the same, each secret named as skipped.
    blind = _run([mooring, "validate", "staging", "--no-secrets", "--json", "-"], project)
    assert blind.returncode == 0, blind.stdout + blind.stderr
    assert any(f["check"] == "secrets.provided" and f["outcome"] == "skipped" for f in json.loads(blind.stdout)["findings"])
    for secret in SECRETS.values():
        assert secret not in ran.stdout + ran.stderr + blind.stdout + blind.stderr


def test_the_project_s_deploy_files_load_mooring_s_through_pyinfra(venv, tmp_path):
    """A plain ``pyinfra`` run of the scaffolded deploy file reaches mooring's own deploy file and
    its pre-flight (which stops on a missing secret, before any connection: the host is fake)."""
    project = tmp_path / "ops"
    assert _run([str(venv / "bin" / "mooring"), "init", str(project)], tmp_path).returncode == 0
    inventory = project / "inventories" / "nowhere.py"
    inventory.write_text('staging = [("@local", {})]\n')
    out = _run([str(venv / "bin" / "python"), "-m", "pyinfra", "-y", str(inventory), "deploy/stack.py"], project,
               timeout=120)
    text = out.stdout + out.stderr
    assert out.returncode != 0
    assert "MOORING_SECRET_POSTGRES_PASSWORD" in text, text[-3000:]
    assert f"{venv}/lib/" in text  # the error is raised by the installed mooring's pre-flight


@pytest.mark.boxes
def test_installed_mooring_bootstraps_the_sandbox_from_a_team_project(venv, bootstrapped, boxes, tmp_path):
    """pyinfra runs mooring's deploy file, facts and operations from the installed package (not the
    checkout): on the session's bootstrapped boxes, with the same declared state, nothing to change."""
    from tests.conftest import state_path

    project = tmp_path / "ops"
    mooring = str(venv / "bin" / "mooring")
    assert _run([mooring, "init", str(project)], tmp_path).returncode == 0
    sandbox = {"MOORING_STATE": str(state_path()), "MOORING_SANDBOX_PORT_BASE": os.environ["MOORING_SANDBOX_PORT_BASE"]}
    for _ in range(2):
        ran = _run([mooring, "bootstrap", "sandbox"], project, env=sandbox, timeout=900)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        quiet = {line.split(":")[0] for line in ran.stdout.splitlines() if ": no changes" in line}
        assert quiet == {box.name for box in boxes.boxes}, ran.stdout
