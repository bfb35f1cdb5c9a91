#!/usr/bin/env python3
"""Mutation testing of the host-free core (checks/, declare/model.py, declare/layers.py) with mutmut 3.

    .venv/bin/python tools/mutation.py --fast 'mooring.checks.*' 'mooring.declare.*'   # the documented run
    .venv/bin/python tools/mutation.py 'mooring.declare.cron.*'      # only these mutants (fnmatch on mutant names)
    .venv/bin/python tools/mutation.py --report --diffs     # the table again, and every survivor's diff

The checkout is never mutated: the committed tree (``git archive HEAD``; ``--source worktree``
for uncommitted work) is copied to ``--workdir`` (default ``/tmp/mooring-mutation``) and mutmut
runs there with ``tools/mutation.cfg`` appended to the copy's setup.cfg. The copy is laid out as
the wheel installs mooring (``mooring/checks/...``): mutmut names mutants after file paths. Later runs keep the
copy's ``mutants/`` folder: a pattern names only the mutants not killed yet (``--recheck`` for
all, ``--fresh`` to start over). Only host-free tests run (``-m "not boxes"``): no docker, no SSH.
One worker by default (``--max-children``). ``--fast`` leaves out the slow CLI corpus (a lower
bound of the full score).

A mutant counts as killed when a test failed or timed out under it. Survivors read and found
equivalent are listed in :data:`EXPLAINED` (by number, with the reason) and scored apart; see
docs/mutation.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = Path(__file__).resolve().parent / "mutation.cfg"
DEFAULT_WORKDIR = Path(os.environ.get("MOORING_MUTATION_DIR", "/tmp/mooring-mutation"))
#: The modules under mutation, in report order (glob patterns, as ``only_mutate`` in tools/mutation.cfg).
MODULES = ["mooring/checks/findings.py", "mooring/checks/registry.py", "mooring/checks/rules/*.py",
           "mooring/checks/live.py", "mooring/checks/drift.py", "mooring/checks/probes.py", "mooring/checks/snapshot.py",
           "mooring/checks/preflight.py", "mooring/declare/model.py", "mooring/declare/render.py",
           "mooring/declare/cron.py", "mooring/declare/schema.py", "mooring/declare/layers.py"]
#: The layers the repository keeps at its top and the wheel installs under mooring/ (setup.py).
LAYERS = ("checks", "declare", "deploy")
#: mooring's own files, package data of the wheel (``mooring.declare.paths.ROOT`` is their parent).
DATA = ("templates", "images", "examples", "group_data", "inventories")
SKIP = shutil.ignore_patterns(".git", ".venv", ".mooring", "mutants", "*.egg-info", "__pycache__", ".pytest_cache",
                              ".mutmut-cache")

#: mutmut exit codes (mutmut.stats.status_by_exit_code) folded into the four columns we report.
KILLED = {1: "killed", 3: "killed", 36: "timeout", -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout"}
SURVIVED = {0: "survived"}
NO_TESTS = {5: "no tests", 33: "no tests"}

#: Left out by --fast: the in-process bad-input corpus and the CLI/sandbox tests that start
#: subprocesses (those cover no mutated function in-process, so mutmut never runs them anyway).
FAST_DESELECT = ["tests/test_validate_cli.py", "tests/test_cli.py", "tests/test_sandbox.py"]

#: Functions that run only while their module is imported (they build the cerberus schema):
#: mutmut switches a mutant on after the import, so no test can ever see these mutants. They are
#: counted apart ("import-time"), not in the score; the schema they build is pinned by
#: tests/test_mutants_schema.py (every default, message and fix) instead.
IMPORT_TIME = ("mooring.declare.schema.x__probe__", "mooring.declare.schema.x__gate__", "mooring.declare.schema.x__string_list__",
               "mooring.declare.schema.x_register_block__")

#: Written into the copy: a pyinfra run the tests start from a foreign working directory (with
#: PYTHONPATH=<copy>/mutants) imports mutated modules, whose trampolines read mutmut's config
#: from the working directory. Load it once from the copy instead.
SITECUSTOMIZE = '''"""Written by tools/mutation.py into the mutation copy only (never in the checkout)."""
import os

if os.environ.get("MUTANT_UNDER_TEST"):
    _here = os.path.dirname(os.path.abspath(__file__))
    _copy = os.path.dirname(_here) if os.path.basename(_here) == "mutants" else _here
    _cwd = os.getcwd()
    try:
        os.chdir(_copy)
        from mutmut.configuration import config as _config

        _config()
    except Exception:  # not a mutation run after all: behave as if this file did not exist
        pass
    finally:
        os.chdir(_cwd)
'''


#: Written into the copy and loaded with ``-p mutation_order`` (tools/mutation.cfg): mutmut runs a
#: mutant's tests with ``-x`` in no useful order, so a killed mutant often waited for 40 s of
#: unrelated tests before the one that fails. Under a mutant the tests run fastest first (their
#: times from mutmut's stats run); a survivor still runs them all, so verdicts do not change.
ORDER_PLUGIN = '''"""Written by tools/mutation.py into the mutation copy only (never in the checkout)."""
import json
import os

import pytest


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    if "__mutmut_" not in os.environ.get("MUTANT_UNDER_TEST", ""):
        return  # the clean run, the stats run and the forced failure keep pytest's order
    try:
        with open("mutmut-stats.json") as handle:
            durations = json.load(handle)["duration_by_test"]
    except (OSError, ValueError, KeyError):
        return
    items.sort(key=lambda item: durations.get(item.nodeid, 0.0))
'''


#: Decorators that only register the function they decorate (a rule, a live rule, a snapshot record
#: handler). mutmut 3 never mutates a decorated function, so in the copy (never the checkout)
#: ``@deco(args) def f`` is rewritten as ``def f`` then ``f = deco(args)(f)``: the same module once
#: imported, with the function's body open to mutation.
UNWRAP_DECORATORS = ("rule", "live_rule", "_fields")


def unwrap_decorators(text: str) -> str:
    """``text`` with every module-level function decorated only by :data:`UNWRAP_DECORATORS`
    defined plainly and decorated by an assignment right after it (same order of application)."""
    import libcst as cst

    def unwrappable(decorator: cst.Decorator) -> bool:
        call = decorator.decorator
        return isinstance(call, cst.Call) and isinstance(call.func, cst.Name) and call.func.value in UNWRAP_DECORATORS

    module = cst.parse_module(text)
    body: list[cst.CSTNode] = []
    for statement in module.body:
        if (isinstance(statement, cst.FunctionDef) and statement.decorators
                and all(unwrappable(d) for d in statement.decorators)):
            value: cst.BaseExpression = cst.Name(statement.name.value)
            for decorator in reversed(statement.decorators):
                value = cst.Call(func=decorator.decorator, args=[cst.Arg(value)])
            body.append(statement.with_changes(decorators=[]))
            body.append(cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(cst.Name(statement.name.value))], value)]))
        else:
            body.append(statement)
    return module.with_changes(body=body).code


def export_tree(source: str, target: Path) -> None:
    """The project files into ``target``: the committed tree (``HEAD``) or the working tree."""
    if source == "worktree":
        for entry in ROOT.iterdir():
            if SKIP(str(ROOT), [entry.name]):
                continue
            if entry.is_dir():
                shutil.copytree(entry, target / entry.name, ignore=SKIP, symlinks=True)
            else:
                shutil.copy2(entry, target / entry.name)
        return
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", source], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)


def to_installed_layout(tree: Path) -> None:
    """Lay ``tree`` out as the wheel installs mooring: the layers and mooring's files under
    ``mooring/``. mutmut names a mutant after its file's path and switches it on only in the
    module of that name, so ``checks/live.py`` must be ``mooring/checks/live.py`` to match the
    functions' module, ``mooring.checks.live``. The top keeps plain copies for the tests that
    read files there (sources by path, the reference group data)."""
    for folder in (*LAYERS, *DATA):
        shutil.copytree(tree / folder, tree / "mooring" / folder, symlinks=True)


def migrate_results(workdir: Path) -> None:
    """Carry a copy's results over from the repository layout (``mutants/checks/...``, mutants
    named ``checks.live.*``) to the installed one (``mutants/mooring/checks/...``,
    ``mooring.checks.live.*``). mutmut regenerates the moved modules and keeps each result whose
    function is unchanged (the hash per function stays in the meta file). Nothing happens to a
    copy without results there (``mutants/checks`` is then the plain copy the tests read)."""
    mutants = workdir / "mutants"
    old_layers = [mutants / layer for layer in LAYERS if next((mutants / layer).glob("**/*.py.meta"), None)]
    if not old_layers:
        return
    for old in old_layers:
        for meta in sorted(old.rglob("*.py.meta")):
            data = json.loads(meta.read_text())
            for key, value in list(data.items()):
                if key.endswith("_by_key") and isinstance(value, dict):
                    data[key] = {f"mooring.{name}": result for name, result in value.items()}
            target = mutants / "mooring" / meta.relative_to(mutants)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(data))
        shutil.rmtree(old)
        print(f"mutation results moved to the installed layout: mutants/mooring/{old.name}/", flush=True)
    (mutants / "mutmut-stats.json").unlink(missing_ok=True)  # test → function names of the old layout
    sample = workdir / "sample.json"
    if sample.exists():
        drawn = json.loads(sample.read_text())
        for key in ("names", "patterns"):
            drawn[key] = [n if n.startswith("mooring.") else f"mooring.{n}" for n in drawn[key]]
        sample.write_text(json.dumps(drawn, indent=1))


def sync_copy(workdir: Path, fresh: bool, source: str, deselect: list[str]) -> None:
    """Bring ``workdir`` to the project files of ``source``, keeping ``workdir/mutants`` (mutmut's
    cache) unless ``fresh``. Unchanged files keep their mtime, so mutmut re-mutates only what changed."""
    import filecmp
    import tempfile

    if fresh and workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    migrate_results(workdir)
    with tempfile.TemporaryDirectory(prefix="mooring-mutation-src-") as tmp:
        src = Path(tmp)
        export_tree(source, src)
        to_installed_layout(src)
        setup_cfg = src / "setup.cfg"
        config = CONFIG.read_text()
        extra = "".join(f"    --deselect\n    {node}\n" for node in deselect)
        config = config.replace("    no:cacheprovider\n", "    no:cacheprovider\n" + extra, 1)
        setup_cfg.write_text(setup_cfg.read_text() + "\n" + config)
        for pattern in MODULES:
            for module in src.glob(pattern):
                module.write_text(unwrap_decorators(module.read_text()))
        (src / "sitecustomize.py").write_text(SITECUSTOMIZE)
        (src / "mutation_order.py").write_text(ORDER_PLUGIN)
        wanted = {p.relative_to(src) for p in src.rglob("*") if not p.is_dir()}
        for path in sorted(workdir.rglob("*"), reverse=True):
            rel = path.relative_to(workdir)
            if rel.parts[0] == "mutants" or rel.name in ("mutmut.log", "survivors.diff", "sample.json"):
                continue
            if path.is_dir() and not path.is_symlink():
                if not any(path.iterdir()):
                    path.rmdir()
            elif rel not in wanted:
                path.unlink()
        for rel in sorted(wanted):
            source_file, target = src / rel, workdir / rel
            if target.is_file() and not target.is_symlink() and filecmp.cmp(source_file, target, shallow=False):
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists() or target.is_symlink():
                target.unlink()
            shutil.copy(source_file, target, follow_symlinks=False)


def pending(workdir: Path, patterns: list[str]) -> list[str]:
    """The mutants matching ``patterns`` that are not killed yet (import-time ones left out), or
    ``patterns`` themselves when mutmut has not generated mutants yet. mutmut re-tests every mutant
    it is given by name, so naming only these keeps earlier kills."""
    import fnmatch

    names = [name for codes in load_results(workdir).values() for name, code in codes.items()
             if any(fnmatch.fnmatchcase(name, p) for p in patterns)
             and status(code, name) not in ("killed", "timeout", "import-time", "explained")]
    return names if load_results(workdir) else patterns


def draw_sample(workdir: Path, patterns: list[str], size: int, seed: int) -> list[str]:
    """``size`` mutants drawn at random (``seed``) from every module's mutants matching ``patterns``
    (all of them when fewer), checked or not: an unbiased sample, since mutmut itself runs the
    cheapest mutants first. Written to WORKDIR/sample.json; :func:`report` scores it apart."""
    import fnmatch
    import random

    drawn = []
    for codes in load_results(workdir).values():
        names = sorted(name for name in codes if any(fnmatch.fnmatchcase(name, p) for p in patterns)
                       and status(codes[name], name) != "import-time")
        drawn += random.Random(f"{seed}:{names[:1]}").sample(names, min(size, len(names)))
    (workdir / "sample.json").write_text(json.dumps({"seed": seed, "size": size, "patterns": patterns,
                                                     "names": sorted(drawn)}, indent=1))
    return drawn


#: A mutant name no module has. ``mutmut run`` given it brings ``mutants/`` up to the source
#: (re-mutating changed functions and forgetting their results), then refuses the filter.
NO_MUTANT = "mooring.generate_only.x_nothing__mutmut_0"
NOTHING_MATCHES = "Filtered for specific mutants, but nothing matches"


def generate_mutants(workdir: Path) -> None:
    """Re-mutate what changed in the copy before :func:`pending` reads the results: otherwise a
    changed function whose old mutants were all killed counts as killed, and its new mutants
    never run (mutmut re-mutates only inside ``mutmut run``)."""
    if run_mutmut(workdir, [NO_MUTANT], 1, quiet=True) != 0 and \
            NOTHING_MATCHES not in (workdir / "mutmut.log").read_text(errors="replace"):
        raise SystemExit(f"mutmut could not generate the mutants: see {workdir / 'mutmut.log'}")


def run_mutmut(workdir: Path, patterns: list[str], max_children: int, quiet: bool = False) -> int:
    mutmut = Path(sys.executable).parent / "mutmut"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOORING_SECRET_")}
    env.pop("PYTHONPATH", None)
    log = workdir / "mutmut.log"
    if not quiet:
        print(f"mutmut runs in {workdir} (log: {log})", flush=True)
    with log.open("w") as handle:
        proc = subprocess.run([str(mutmut), "run", "--max-children", str(max_children), *patterns], cwd=workdir,
                              env=env, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if proc.returncode != 0 and not quiet:
        tail = log.read_text(errors="replace").replace("\r", "\n").splitlines()[-30:]
        print("\n".join(tail), file=sys.stderr)
        print(f"mutmut exited with {proc.returncode}", file=sys.stderr)
    return proc.returncode


def load_results(workdir: Path) -> dict[str, dict[str, int | None]]:
    """module path → mutant name → mutmut exit code (None: not tested yet)."""
    results = {}
    mutants = workdir / "mutants"
    for pattern in MODULES:
        for meta in sorted(mutants.glob(f"{pattern}.meta")):
            results[str(meta.relative_to(mutants))[: -len(".meta")]] = json.loads(meta.read_text())["exit_code_by_key"]
    return results


#: Surviving mutants read and found equivalent to the code (or unreachable from any input), by
#: function: (mutant numbers, why). Listed by number on purpose: when the code changes, the numbers
#: move, these stop matching and the survivors show up again to be read again. docs/mutation.md
#: lists them with the same reasons.
EXPLAINED: dict[str, tuple[set[int], str]] = {
    "mooring.checks.rules.render.x_render_env_roundtrip": ({41, 43}, "docker compose config --format json always prints "
                                                         "a services mapping (even for a file with no services)"),
    "mooring.checks.rules.backups.x_backups_directory": ({8}, "why is only tested for truth before a reason is set: None "
                                                        "and '' alike"),
    "mooring.checks.rules.backups.x_next_run_text": ({9}, "now(None) is naive local time, which astimezone() reads as the "
                                                    "same instant"),
    "mooring.checks.rules.secrets.x_secrets_not_in_clear": ({32, 37}, "getattr(None, 'password', None) is None like the "
                                                            "else branch; a urlsplit result always has .password"),
    "mooring.checks.rules.services.x_proxy_consistent": ({5}, "service names match SERVICE_NAME_RE (lower-case, "
                                                        "non-empty): neither '' nor 'XXXX' names one"),
    "mooring.checks.rules.production.x_production_cors": ({6, 9, 11, 12}, "an origin without a host ('*', or no "
                                                          "scheme://) is not local whether its host reads '' or 'XXXX'; "
                                                          "urlsplit('*').hostname is None"),
    "mooring.checks.rules.production.x_production_images_pinned": ({13, 14, 16, 25, 26, 28}, "IMAGE_RE allows ':' only in "
                                                                  "the registry port (before the first '/') and once "
                                                                  "before the tag: every split keeps the same last "
                                                                  "component and tag"),
    "mooring.checks.rules.common.x__service_path": ({1, 3}, "every caller passes a non-empty key"),
    "mooring.checks.snapshot.x__v1_lines": ({2, 3}, "only re-case a shell comment line of the script; sh ignores comments"),
    "mooring.checks.snapshot.x__docker_jobs": ({9, 14, 26}, "9: the plugin paths hold only [A-Za-z0-9/._-], so \"p\" and p are "
                                               "one word to sh; 14: only upper-cases a shell comment line; 26: only a real "
                                               "engine tells {{.server.version}} (a template error) from {{.Server.Version}}: "
                                               "the box test tests/test_snapshot.py::test_snapshot_after_a_deploy_matches_the_"
                                               "rendered_state asserts the engine version"),
    "mooring.checks.snapshot.x__backup_lines": ({10, 11, 13}, "10/11: with no dump name to match, -name '' matches nothing and a "
                                                "broken predicate makes find fail with its stderr discarded: no backup record "
                                                "either way; 13: only upper-cases a shell comment line"),
    "mooring.checks.snapshot.x__declared_at": ({3}, "differs only for a model without a stack, which snapshot_spec refuses "
                                               "before _check_spec calls _declared_at"),
    "mooring.checks.snapshot.x_unescape": ({2, 9, 42, 48}, "text[None:i] is text[0:i]; 'UTF-8' and 'utf-8' name the same codec"),
    "mooring.checks.snapshot.x_snapshot_spec": ({12, 13, 14}, "file_of(None / 'XXstackXX' / 'STACK') for a model "
                                               "without a stack: no layer holds a 'stack' key then (the schema refuses "
                                               "stack: {}, stack: null and unknown top-level keys), so every argument "
                                               "falls back to the last layer's file"),
    "mooring.declare.schema.x__type_name": ({5, 6, 7, 8, 9, 26, 27, 30, 31},
                                   "the list/float entries equal their fallback (the type's own name); NoneType is never "
                                   "reached (cerberus reports null with the nullable rule first)"),
    "mooring.declare.schema.x__meta_fix": ({9, 11, 13, 23}, "callers write `meta_fix or ...` (None and '' alike); the schema node is "
                                                   "always a mapping, and no schema has an upper-case FIX"),
    "mooring.declare.schema.x__schema_node": ({2}, "cerberus' schema paths never pass through a non-mapping node"),
    "mooring.declare.schema.x__unknown_key_fix": ({11, 15, 19, 27, 28, 29}, "n=1/n=2/default cutoff 0.6 give the same first match; "
                                                                   "an unknown key always has a document path and a mapping node"),
    "mooring.declare.schema.x__strip": ({16, 17}, "keysrules carry neither required nor default"),
    "mooring.declare.schema.x__fix": ({7, 10, 14, 15, 16, 54, 56, 57, 58},
                             "every check_with problem carries a fix (problem() requires one); the list-typed rules "
                             "(ports, env values) all have a meta fix"),
    "mooring.declare.schema.x__message": ({89, 90, 92} | set(range(98, 115)),
                                 "dead code: no schema uses maxlength; cerberus reports check_with errors with the "
                                 "custom code, handled first, so the check_with branch and the fallback never run"),
    "mooring.declare.schema.x_check_cidr": ({3}, "strict=None is as false as strict=False"),
    "mooring.declare.schema.x_check_mount_source": ({10, 20}, "VOLUME_NAME_RE never matches a leading dot, so the "
                                                    "startswith guard decides nothing; the stand-in for ${STACK_DIR} "
                                                    "only has to be absolute and plain, in any case"),
    "mooring.declare.schema.x_check_port": ({49}, "PORT_STRING_RE's address holds no X to strip"),
    "mooring.checks.live.x_restored_services": ({25}, "an undeclared service's restart policy is unknown: any "
                                                  "value but \"no\" reads alike"),
    "mooring.declare.schema.x__leaf_errors": ({2}, "a cerberus group error always has child errors"),
    "mooring.declare.schema.x_is_secret_path": ({5, 8}, "rsplit without or with a larger maxsplit keeps the same last part"),
    "mooring.declare.schema.x_merged_schema": ({2}, "no caller changes the returned schema, so a shallow copy behaves alike"),
    "mooring.checks.rules.common.x__env_path": ({2}, "the one caller skips keys missing from stack.env"),
    "mooring.checks.rules.production.x__is_loopback": ({3, 4}, "urlsplit().hostname never keeps IPv6 brackets"),
    "mooring.checks.rules.render.x__shell_jobs": ({7, 15, 16, 27, 39, 40}, "neither sh -n nor shellcheck (-s sh) reads the file suffix"),
    "mooring.checks.registry.x_rule": ({23}, "the `or ''` fallback runs only when the conditional already returns ''"),
    "mooring.checks.rules.render.x_warm_tool_cache": ({1, 39}, "the pool's thread count is not observable"),
    "mooring.checks.rules.render.x__run_on_text": ({3, 15, 16, 20, 21, 24}, "delete=None is falsy like False; the timeout and stdin of "
                                                              "a checker that ends at once"),
    "mooring.checks.rules.render.x__run_compose_config": (
        {1, 2, 3, 7, 9, 10, 14, 16, 17, 19, 21, 23, 30, 33, 36, 39, 43, 46, 47, 49, 51, 52, 53, 54, 55, 56, 57, 58, 59, 64,
         66, 70, 71, 72, 95, 96, 97, 99, 102, 103, 104},
        "temporary folder prefix; file names passed explicitly (-f, --env-file); UTF-8 spelled otherwise or the UTF-8 "
        "locale default; 0o600 == 385; timeout/stdin of a run that ends at once; PATH/HOME/DOCKER_CONFIG of a binary "
        "started by absolute path; config '' vs None both mean no config; compose never prints unparsable JSON"),
    "mooring.checks.rules.consistency.x__flag_value": ({15, 16, 18, 26}, "split/rsplit/maxsplit differ only for a value holding '=' (no "
                                                      "database or user name does); a word starting with -d/-U never "
                                                      "starts with --"),
    "mooring.checks.rules.consistency.x__words": ({1, 13, 14, 15, 16, 17, 19, 20}, "shlex-splitting a CMD list gives the same words; keeping "
                                                            "or dropping the CMD/executable word leaves no flag behind; "
                                                            "the schema's minlength 1 keeps test from being empty"),
    "mooring.checks.rules.services.x__dependency_cycle": ({19, 20}, "a finished node's state is only tested with `in` and `== 1`, so "
                                                    "any value but 1 marks it done alike"),
    "mooring.checks.rules.common.x__url_parts": ({10}, "callers read the reason only when the parts are None"),
    "mooring.checks.rules.mounts.x__system_reason": ({9, 11}, "no two SYSTEM_TREES nest, so a source is inside one tree at most: max by "
                                            "text or by length picks the same one"),
    "mooring.checks.rules.common.x__uses": ({32, 33}, "COMPOSE_REF_RE's (?<!\\$) lookbehind already skips an escaped $${KEY}, so "
                                        "removing or replacing $${ first finds the same keys"),
    "mooring.checks.rules.consistency.x__same": ({3, 13, 16}, "a part without *** that is secret compares the same either way; urlsplit of "
                                           "the real URL cannot fail once the masked one parsed; no user or password "
                                           "starts with /"),
    "mooring.checks.live.x_compose_file_as_declared": ({11}, "'UTF-8' and 'utf-8' name the same codec"),
    "mooring.checks.drift.x__file": ({44, 70}, "'UTF-8' and 'utf-8' name the same codec"),
    "mooring.checks.probes.x__fixed_checks": ({2, 8, 9, 17, 7, 23, 46, 53, 54, 55},
                                      "the name of a fixed route's request is never shown (its judge names the route); "
                                      "Ask's default timeout is CHECK_TIMEOUT (5.0)"),
    "mooring.checks.snapshot.x__compose_config_hashes": (
        {1, 2, 3, 9, 10, 15, 16, 18, 20, 22, 32, 35, 38, 42, 48, 50, 51, 52, 53, 54, 63, 65, 69, 71, 89, 93, 96, 97, 99},
        "temporary folder prefix; file names passed explicitly (-f, --env-file); UTF-8 spelled otherwise or the UTF-8 "
        "locale default; 0o600 == 385; PATH of a binary started by absolute path; timeout/stdin of a run that ends at "
        "once; a 'service hash' line splits alike on ' ', on whitespace, from either end"),
    "mooring.checks.snapshot.xǁSnapshotErrorǁto_json": ({1}, "an error holds no digest: to_json ignores its digests argument"),
    "mooring.checks.snapshot.x_expected_file_digests": ({5}, "'UTF-8' and 'utf-8' name the same codec"),
    "mooring.checks.live.x_backup_metrics": ({109, 110, 119}, "a last success at 0 or 1 s after 1970 is stale and shown as "
                                                        "never alike on any real clock"),
    "mooring.checks.probes.x__client": ({3}, "follow_redirects=None is falsy like False: redirects are not followed either way"),
    "mooring.checks.probes.x__read_capped": ({5, 7, 20, 21}, "the ReadTimeout is caught by controller_fetch, its only caller, "
                                             "which reads only its type name and message, never its request; httpx's "
                                             "Response.encoding is never empty (it falls back to 'utf-8' itself)"),
    "mooring.checks.probes.x_controller_fetch": ({9}, "httpx upper-cases the method (Request.__init__: method.upper()): 'get' sends GET"),
    "mooring.checks.preflight.x__covering_group": ({17, 11}, "a group without a layer ranks after one with a layer "
                                                 "whether that rank is 1 or 2; `named` is the first sort key and takes two "
                                                 "values, 0 sorts before 1 as before 2"),
    "mooring.checks.preflight.x_group_findings": ({16, 19, 37}, "the bucket key needs only one subject for all "
                                                "findings, whichever (None, 'XXXX'); a grouped bucket holds two or more "
                                                "findings equal in every field but the subject, which the grouped "
                                                "finding replaces: same[0] and same[1] give the same finding"),
    "mooring.checks.preflight.x_host_key_findings": ({6, 10}, "`where` only fills ConfigProblem.file, which "
                                                   "host_key_findings never reads (it names the inventory itself)"),
    "mooring.checks.preflight.x__exec_inventory": ({19, 18}, "the code's file name shows only in a traceback, never in the message "
                                                 "(type, text, or the SyntaxError's line); 18: 'UTF-8' and 'utf-8' "
                                                 "name the same codec"),
    "mooring.checks.preflight.x_assert_host_ready": ({8}, "logging a finding as the message or through '%s' prints the same "
                                                  "text (no arguments: its % is not formatted)"),
    "mooring.declare.model.x__compose_service": ({22, 37, 40, 189, 191, 195, 196},
                                                 "rsplit('/') or rsplit('/', 2) keep the same last piece as "
                                                 "rsplit('/', 1); Compose's output always carries a depends_on "
                                                 "condition (its schema refuses the long form without one), so the "
                                                 ".get default is never used; 22: a service without an image is "
                                                 "refused by _built in the same _compose_project call, so its "
                                                 "Service (image '' or 'XXXX') is never used"),
    "mooring.declare.model.x__compose_project": ({26, 29, 50, 53, 54, 56, 57, 58, 70, 72, 95, 97, 105, 107, 164, 171,
                                                  173},
                                                 "variables() computes the same written() itself when given None (one "
                                                 "more Compose run); _declaring_files and _built never read their "
                                                 "services/merged argument; Compose's JSON always has `services` ({} "
                                                 "for a project without any), so the .get default is never used; 105, "
                                                 "107: the first-file fallback, unreachable as in _built"),
    "mooring.declare.render.x_team_compose_file": ({29, 34, 38}, "sort_keys=None is falsy like False, default_flow_style=False "
                                                   "is PyYAML's default; width 1001 instead of 1000 only moves where a value "
                                                   "over 1000 columns folds, and the folded plain scalar loads the same"),
    "mooring.declare.render.x__in_stack_dir": ({4, 6}, "stack.dir is posixpath.join(base_dir, name) with name matching "
                                               "^[a-z][a-z0-9_-]{0,31}$: it never ends in '/', whitespace or 'X', so no "
                                               "rstrip changes it"),
    "mooring.declare.render.x__drill_context": ({4, 9}, "no service is named '' or 'XXXX' (service names are lowercase); the "
                                                "fallback image is written only when backups.service names a service "
                                                "missing from the stack, which the services rule refuses (never deployed)"),
    "mooring.declare.render.x__shipped_mount_files": ({4, 69}, "the extra users/attrs entries are keyed by sources outside "
                                                       "the stack folder (a non-bind mount's source is a volume or image "
                                                       "name) and only relative mounts' targets inside it are looked up; "
                                                       "_team_text never reads its stack argument"),
    "mooring.declare.render.x_yaml_quote": ({4}, "ensure_ascii=True is json.dumps's default"),
    "mooring.declare.render.x_jinja_env": ({3, 4, 5, 6, 7}, "with no project templates folder the arguments only say "
                                           "'no override loader' (any falsy value does) and key the cache; 'XXXX' "
                                           "names a folder that does not exist, in which the loader finds nothing"),
    "mooring.declare.render.x__dotenv_inner": ({2, 3, 4, 5, 8, 9, 10, 11, 12, 13}, "the JSON form ('j') writes "
                                                "backslash, double quote, newline, CR and tab exactly as the dotenv form "
                                                "does, and is tried with it: only `$` tells the two apart (its mutants are killed)"),
    "mooring.declare.render.x_project_templates": ({6, 7}, "only jinja_env reads it: a folder that does not exist, or is "
                                                   "mooring's own, adds a loader that finds nothing mooring's own would not"),
    "mooring.declare.render.x__mask_text": ({25, 28}, "the tokens that match at one place are all prefixes of the text there, "
                                            "so of each other: reverse lexicographic order also tries the longest first"),
    "mooring.declare.render.x_masked_files": ({32, 36}, "`where` only reaches unmask's messages, and a copy just masked with the "
                                              "same secrets names no missing secret, only forms it wrote, each restoring one way"),
    "mooring.declare.render.xǁMaskedFileǁfrom_dict": ({30, 32}, "bool(None) is False, like bool(False)"),
    "mooring.declare.model.x__escape_refs": ({5, 6}, "what it escapes (whitelist CIDRs, CORS origins, booleans) is "
                                             "validated to hold no `$`: a guard kept should the schema ever allow one"),
    "mooring.declare.model.x__written_services": ({2}, "Compose refuses an include cycle before mooring reads the files, "
                                                 "and a file read twice gives the same (service, file) pairs, which "
                                                 "setdefault keeps first"),
    "mooring.declare.model.x__built": ({11, 13, 40, 42, 43}, "the fallback file (src.declared[0]) of a service mooring "
                                       "cannot place: every service Compose reports is found in the files since they "
                                       "are read as Compose reads them (UTF-16, YAML 1.2 keys, several documents, "
                                       "include:, !reset); kept as a guard, no input known reaches it"),
    "mooring.checks.preflight.x_inventory_hosts": ({57, 59}, "every host name comes from a group whose _host_data gives "
                                                  "it an entry (the same items _group_hosts reads), so the .get default "
                                                  "is never used"),
    "mooring.checks.preflight.x__prepare": ({2, 11}, "_Prepared.model is read only by _finish's run_rules when there is "
                                          "a stack; these two return without one"),
    "mooring.checks.preflight.x__finish": ({3, 5}, "run_rules reads render_problem only when nothing was rendered, where "
                                         "it is 'rendering failed' either way"),
    "mooring.declare.model.x__compose_secret_files": ({26}, "the fallback path is built only for a secret without "
                                                      "file:, and the loop then skips to the next secret before "
                                                      "using it"),
    "mooring.declare.model.x__compose_port": ({7, 30, 31}, "'' and 'XXXX' are both not digits: an unpublished port "
                                             "either way; Compose always fills in the protocol, so `or 'tcp'` never runs"),
    "mooring.checks.live.x_backup_verify": ({59, 136}, "(gap or 0) vs (gap or 1) differ only when longest_gap_minutes "
                                           "returns None or 0: never 0, and None is a schedule that never runs, which "
                                           "the schema refuses; 0//60 and 1//60 are both 0"),
    "mooring.checks.rules.env.x_env_complete": ({12, 17}, "17: the service references add a key only for inputs like "
                                              "${x$$}, where the original's finding is a false alarm (the renderer "
                                              "writes it as a literal): killing it would pin that false alarm; 12: a "
                                              "${KEY} never spans a line break except inside a default, whose text the "
                                              "rule does not read"),
    "mooring.checks.registry.x__run_one": ({11, 13}, "a raised exception always has a traceback, so `where` is never empty"),
    "mooring.checks.rules.env.x_env_line_breaks": ({34}, "\\x0B and \\x0b are the same regex escape"),
    "mooring.checks.rules.secrets.x_secrets_url_safe": ({3}, "a URL that is not secret references no secret and a direct secret "
                                                     "declares no URL: the rule finds nothing in either, skipped or not"),
    "mooring.checks.rules.render.x__scripts_pass": ({12, 16, 17}, "neither sh -n nor shellcheck (-s sh) reads the file "
                                                  "suffix, and the output names the file SCRIPT"),
    "mooring.checks.probes.x__specific": ({5}, "'' is returned as itself whether or not it is listed"),
    "mooring.checks.probes.x__metrics_judge": ({1}, "the judge's default `skipped` is read only when called with no result, "
                                            "and http_checks then always passes one"),
    "mooring.checks.probes.x__status_judge": ({1}, "the judge's default `skipped` is read only when called with no result, "
                                           "and http_checks then always passes one"),
    "mooring.checks.probes.x__probe_judge": ({8, 45, 74},
                                     "the default `skipped` is read only with no result, and http_checks then passes "
                                     "one; a result without status has an empty body (_record), so `or body` adds "
                                     "nothing; _probe_fix never reads its probe argument"),
    "mooring.checks.snapshot.x_expected_config_digests": ({9}, "another separator in the cache key keys the same stacks apart"),
    "mooring.checks.probes.x__unb64": ({16}, "'UTF-8' and 'utf-8' name the same codec"),
    "mooring.checks.probes.x_parse_host_answers": ({20}, "answers is cut to [:count]: `<=` lets in only len == count, "
                                                   "which then adds [Answer] * 0 == []"),
    "mooring.checks.probes.x_probe_url": ({17}, "'' and 'XXXX' differ only for a base URL without a host "
                                         "(http://:80), which probe_base never builds: both results are unusable"),
    "mooring.checks.snapshot.x_normalize_ref": ({14}, "a ref with '@' has a digest 'algo:hex' after its last '/', so the "
                                               "':' test already skips ':latest'; only a malformed 'app@abc' differs, "
                                               "for which image_id returns None either way"),
    "mooring.checks.snapshot.x_snapshot_script": (
        {59, 88, 97, 172, 200, 220}, "59/88/97/172/220 only upper-case a shell comment line; sh ignores comments and no "
                                     "shellcheck directive is touched; 200 makes v='' an argument of a command that is not "
                                     "found (stderr only): read assigns v even at end of file, so the reset matters only "
                                     "for a replaces file root cannot open"),
    "mooring.checks.snapshot.x_env_line_key": ({5, 8}, "a comment line not returned early still yields a name "
                                               "starting with '#', which _NAME never matches; empty text gives an "
                                               "empty name: None either way"),
    "mooring.checks.snapshot.x_keyed_digest": ({4}, "'UTF-8' and 'utf-8' name the same codec"),
    "mooring.checks.snapshot.x_snapshot_key": ({12}, "codec names are looked up case-insensitively: .encode('ASCII') is "
                                              ".encode('ascii'), and a hexdigest is ASCII"),
    "mooring.checks.snapshot.x__v1": ({10}, "lstrip('XXvXX') strips the same from a version (no version starts with X)"),
    "mooring.checks.snapshot.x_previous_release": ({5}, "with no current release, replaced.get(None) is None: the "
                                                  "release numbers it maps are ints"),
    "mooring.checks.snapshot.x_release_number": ({5}, "'' and 'XXXX' both have no digit head: None either way"),
    "mooring.checks.snapshot.xǁReleasePointerǁrollback_target": (
        {24, 28}, "24: a pair with a None side reads the same: previous_release never looks a None key up, and "
                  "a None value ends the line as a missing one does; 28: numbers.get(None) is None"),
    "mooring.declare.model.xǁ_Unreachableǁ__init__": ({1}, "the exception's own text is never shown: its one caller reads "
                                                  "exc.key, exc.message and exc.fix"),
    "mooring.declare.model.x__read_key_file": ({11, 17, 19}, "ROOT / an absolute path is that path; encoding None is the UTF-8 "
                                                     "locale default, 'UTF-8' is 'utf-8'"),
    "mooring.declare.model.x__port": ({33}, "PORT_STRING_RE's address holds only hex digits, ':', '.' and the "
                                     "brackets: no X to strip"),
    "mooring.checks.rules.consistency.x__compose_env": ({11}, "secret None: its one reader (_same) compares the real "
                                                      "values whenever the masked part shows a mask, and without one "
                                                      "the masked part is the real part"),
    "mooring.declare.model.x_build_stack": ({93, 209, 210}, "compose '' or None: every reader tests its truth "
                                               "(`if stack.compose`); the schema defaults probes_from to 'controller' "
                                               "(allowed values only), so `or 'controller'` never runs"),
    "mooring.declare.model.x__expand_plain": ({4, 5}, "the `$${` branch: the schema admits a database name or one "
                                                 "${KEY} only (DB_NAME_RE), so no escape reaches it"),
    "mooring.declare.model.x__http_port": ({4}, "services.get('XXXX') and services.get('') both find nothing "
                                            "unless a team's compose file names a service XXXX (mooring's names are lowercase)"),
    "mooring.declare.model.x__resolve_key": ({50}, "position None: raw[None:i] is raw[0:i]"),
    "mooring.declare.cron.x_longest_gap_minutes": ({42, 47, 82}, "82: the default (one time a day) meets max() beside a "
                                                     "gap between days of at least 1440 - 1439 minutes, so 0 and 1 "
                                                     "never win; 42: walking back from 2024 covers 1996-2024, another "
                                                     "whole cycle, and the gaps between run days read the same in "
                                                     "either direction; 47: hour*60 - minute mirrors the minutes inside each hour: "
                                                     "the gaps inside an hour come out mirrored and those between "
                                                     "hours are 60*dh - (max - min minute) either way, so every gap "
                                                     "is the same (checked on 20,000 random hour and minute sets)"),
    "mooring.declare.model.x_build_model": ({33, 34, 35}, "the refusal runs only when no layer declares environment "
                                              "(the schema refuses an empty or null one first), so file_of finds no "
                                              "origin for any spelling and answers the host's last layer alike"),
    "mooring.declare.model.x__ssh_strings": ({4, 11}, "a length read from fewer than 4 bytes still moves the position "
                                             "past the end, so the next test returns None all the same; "
                                             "int.from_bytes reads big-endian by default since Python 3.11 (on 3.10 "
                                             "the call without it raises at every key, which every key test shows)"),
    "mooring.declare.model.x__backups": ({12}, "with no service, services.get(None) finds nothing: the same None "
                                         "as the guard's else"),
    "mooring.declare.layers.x__not_text_key": ({13, 14, 47, 57, 58},
                                       "a scalar node's value is always text; PyYAML's resolve() reads the second "
                                       "implicit flag only for path resolvers (the loader has none); a plain scalar read "
                                       "as a number, boolean or null holds no quote to double"),
    "mooring.declare.layers.x__short_tag": ({2}, "only yaml.org tags have constructors in the safe loader: any other tag fails "
                                         "earlier with PyYAML's own error, so none reaches a message"),
    "mooring.declare.layers.x__type_word": ({2, 3, 4, 51, 46, 47, 48, 49},
                                    "a key the safe loader builds is always of a listed type (the fallback is never "
                                    "used) and never a tuple (no !!python/tuple constructor)"),
    "mooring.declare.layers.x__unreadable": ({5, 6, 7},
                                     "the text is read only for !!int, which a collection never reaches (PyYAML's "
                                     "construct_scalar refuses it first)"),
}


def explained(name: str) -> str:
    function, _, number = name.rpartition("__mutmut_")
    entry = EXPLAINED.get(function)
    return entry[1] if entry and number.isdigit() and int(number) in entry[0] else ""


def status(code: int | None, name: str = "") -> str:
    if name.startswith(IMPORT_TIME):
        return "import-time"
    if code in SURVIVED and explained(name):
        return "explained"
    if code is None:
        return "not checked"
    return KILLED.get(code) or SURVIVED.get(code) or NO_TESTS.get(code) or f"suspicious ({code})"


def sample_row(name: str, counts: Counter) -> str:
    killed = counts["killed"] + counts["timeout"]
    checked = sum(counts.values()) - counts["not checked"] - counts["import-time"]
    real = checked - counts["explained"]
    score = f"{100 * killed / checked:.1f} %" if checked else "-"
    score_real = f"{100 * killed / real:.1f} %" if real else "-"
    return f"| {name} | {killed} / {checked} | {score} | {score_real} | {counts['not checked']} |"


def report(workdir: Path, markdown: Path | None, show_diffs: bool) -> int:
    results = load_results(workdir)
    if not results:
        print(f"no results in {workdir}/mutants: run without --report first", file=sys.stderr)
        return 1
    rows = []
    survivors: list[tuple[str, str]] = []
    totals = Counter()
    for module, codes in results.items():
        counts = Counter(status(code, name) for name, code in codes.items())
        killed = counts["killed"] + counts["timeout"]
        total = len(codes) - counts["import-time"]
        rows.append((module, killed, total, counts))
        totals.update(counts)
        totals["total"] += total
        survivors += [(name, status(code, name)) for name, code in sorted(codes.items())
                      if status(code, name) not in ("killed", "timeout", "import-time", "explained", "not checked")]
    lines = [f"Mutation score ({datetime.date.today().isoformat()}, mutmut, host-free tests)", "",
             "| module | killed / checked | score | score without explained | checked / total | survived | explained "
             "(equivalent) | no tests | not checked | import-time (not scored) |",
             "|---|---|---|---|---|---|---|---|---|---|"]

    def row(name: str, killed: int, total: int, counts: Counter) -> str:
        checked = total - counts["not checked"]
        score = f"{100 * killed / checked:.1f} %" if checked else "-"
        real = checked - counts["explained"]
        score_real = f"{100 * killed / real:.1f} %" if real else "-"
        return (f"| {name} | {killed} / {checked} | {score} | {score_real} | {checked} / {total} | {counts['survived']} | "
                f"{counts['explained']} | {counts['no tests']} | {counts['not checked']} | {counts['import-time']} |")

    for module, killed, total, counts in rows:
        lines.append(row(f"`{module}`", killed, total, counts))
    lines.append(row("**all**", totals["killed"] + totals["timeout"], totals["total"], totals))
    sample_file = workdir / "sample.json"
    if sample_file.exists():
        sample = json.loads(sample_file.read_text())
        drawn = set(sample["names"])
        lines += ["", f"Random sample (seed {sample['seed']}, up to {sample['size']} mutants per module of "
                      f"{', '.join(sample['patterns'])}; WORKDIR/sample.json): an unbiased estimate of each module's score",
                  "", "| module | sample killed / checked | sample score | without explained | sample not checked yet |",
                  "|---|---|---|---|---|"]
        all_counts = Counter()
        for module, codes in results.items():
            counts = Counter(status(code, name) for name, code in codes.items() if name in drawn)
            if not counts:
                continue
            all_counts.update(counts)
            lines.append(sample_row(f"`{module}`", counts))
        lines.append(sample_row("**all**", all_counts))
    text = "\n".join(lines)
    print(text)
    if survivors:
        print(f"\n{len(survivors)} mutant(s) not killed:")
        for name, why in survivors:
            print(f"  {name}: {why}")
    if markdown:
        markdown.write_text(text + "\n")
        print(f"\nwritten: {markdown}")
    if show_diffs and survivors:
        mutmut = Path(sys.executable).parent / "mutmut"
        out = workdir / "survivors.diff"
        with out.open("w") as handle:
            for name, _why in survivors:
                diff = subprocess.run([str(mutmut), "show", name], cwd=workdir, capture_output=True, text=True)
                handle.write(diff.stdout + "\n")
        print(f"diffs of the mutants not killed: {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("patterns", nargs="*", help="mutant names or fnmatch patterns, e.g. 'mooring.declare.cron.*'")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="the throw-away copy (default %(default)s)")
    parser.add_argument("--max-children", type=int, default=1, help="parallel mutmut workers (default 1)")
    parser.add_argument("--fresh", action="store_true", help="forget earlier results (delete the copy first)")
    parser.add_argument("--source", default="HEAD",
                        help="what to copy: a git revision (default HEAD: the committed tree, never half-done edits) "
                             "or `worktree` (the working tree as it is)")
    parser.add_argument("--deselect", action="append", default=[], metavar="NODEID",
                        help="leave out a test that fails on the unmutated code (mutmut needs a green run to start)")
    parser.add_argument("--fast", action="store_true",
                        help="leave out the slow CLI corpus (" + ", ".join(FAST_DESELECT) + "): the score is then a lower "
                             "bound of the full one (a mutant killed by fewer tests is killed by all), in a fraction of "
                             "the time")
    parser.add_argument("--recheck", action="store_true",
                        help="test every mutant matching PATTERNS again (default: only those not killed yet)")
    parser.add_argument("--sample", type=int, metavar="N",
                        help="test only N mutants per module, drawn at random from those matching PATTERNS (checked "
                             "or not; WORKDIR/sample.json): an unbiased estimate when there is no time for all")
    parser.add_argument("--seed", type=int, default=12, help="the --sample draw (default %(default)s)")
    parser.add_argument("--report", action="store_true", help="only report the results already in --workdir")
    parser.add_argument("--markdown", type=Path, help="also write the score table to this file")
    parser.add_argument("--diffs", action="store_true", help="write the diff of every mutant not killed to WORKDIR/survivors.diff")
    args = parser.parse_args(argv)
    workdir = args.workdir.resolve()
    if ROOT == workdir or ROOT in workdir.parents:
        parser.error("--workdir must be outside the checkout (the copy is mutated)")
    if not args.report:
        sync_copy(workdir, args.fresh, args.source, args.deselect + (FAST_DESELECT if args.fast else []))
        if load_results(workdir):
            generate_mutants(workdir)
        patterns = args.patterns
        if args.sample:
            if not load_results(workdir):
                parser.error("--sample needs the mutants generated: run once without it first")
            patterns = draw_sample(workdir, args.patterns or ["*"], args.sample, args.seed)
        names = patterns if args.recheck or not patterns else pending(workdir, patterns)
        if not names:
            print("every matching mutant is killed already (--recheck tests them again)")
            return report(workdir, args.markdown, args.diffs)
        code = run_mutmut(workdir, names, args.max_children)
        if code != 0:
            return code
    return report(workdir, args.markdown, args.diffs)


if __name__ == "__main__":
    sys.exit(main())
