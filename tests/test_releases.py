"""Release bookkeeping as data: which release a run saves, what is kept, the typed run plans,
keyed release IDs and redacted records (host-free; the box tests prove the same on hosts)."""

from __future__ import annotations

import hashlib
import json

import pytest

from mooring.declare.render import MaskedFile
from mooring.deploy.facts.releases import DeployLock, MaskedFiles, Release, Releases, ReleaseHistory, parse_dirname
from mooring.deploy.operations.stack import archive_check, keep_set, restore_script
from mooring.deploy.plan import ReleaseRef, StackPlan, Verdict


def history(*names: str, current: str | None = None, pending: str | None = None) -> ReleaseHistory:
    lines = list(names) + ([f"current={current}"] if current else []) + ([f"pending={pending}"] if pending else [])
    return Releases().process(lines)


def test_current_is_found_by_number_when_ids_recur():
    # A (1), B (2), A again (3): the ID "aaa" names two releases; `current` says which.
    h = history("0001-aaa", "0002-bbb", "0003-aaa", current="0001-aaa")
    assert h.current_release() == Release(1, "aaa")
    assert history("0001-aaa", "0002-bbb", "0003-aaa", current="0003-aaa").current_release() == Release(3, "aaa")


def test_a_current_release_marked_failed_is_not_current():
    assert history("0001-aaa-failed", current="0001-aaa").current_release() is None


def test_old_current_format_still_reads():
    assert history("0001-aaa", "0002-bbb", current="bbb").current_release() == Release(2, "bbb")


def test_pending_names_an_unfinished_release_and_its_run():
    h = history("0001-aaa", "0002-bbb", current="0001-aaa", pending="0002-bbb run42")
    assert h.pending_release() == Release(2, "bbb") and h.pending_run == "run42"
    assert history("0001-aaa", "0002-bbb-failed", pending="0002-bbb run42").pending_release() is None


@pytest.mark.parametrize("name,parsed", [
    ("0003-ab12-failed", Release(3, "ab12", True)),
    ("0003-ab12", Release(3, "ab12")),
    ("migrated-ab12", None), ("current", None), ("0003-ab12-weird", None), ("0003-", None), (".stage-run", None),
])
def test_release_folder_names(name, parsed):
    assert parse_dirname(name) == parsed


def test_listing_digest_is_read():
    assert history("0001-a", "digest=123-45").digest == "123-45"


@pytest.mark.parametrize("numbers,current,new,keep", [
    (range(1, 9), 8, 9, 3),  # more releases than keep: the current one (replaced) stays
    (range(1, 9), 2, 9, 2),  # an old current one (after a rollback) stays too
    (range(1, 4), 3, 4, 1),  # keep=1: the new one and its rollback target only
])
def test_keep_set_keeps_the_new_release_and_the_one_it_replaces(numbers, current, new, keep):
    h = ReleaseHistory([Release(n, f"id{n}") for n in numbers], current=f"id{current}", current_number=current)
    kept = keep_set(h, new, keep)
    assert new in kept and current in kept
    newest_good = sorted(n for n in numbers if n != new)[-(keep - 1):] if keep > 1 else []
    assert kept == {new, current, *newest_good}


def test_keep_set_never_counts_failed_releases():
    h = ReleaseHistory([Release(1, "a"), *(Release(n, f"f{n}", True) for n in range(2, 8))], current="a",
                       current_number=1)
    assert keep_set(h, 8, keep=2) == {1, 8}


def test_stack_plan_round_trips_through_json():
    plan = StackPlan(stack="s", directory="/srv/s", release=ReleaseRef(3, "ab"), new_release=True,
                     previous=ReleaseRef(2, "cd"), unfinished=None, images={"a:1": "sha256:1"},
                     env_keys_changed=("A", "B"), migration="m", ops={"h": "Stack | x"}, http_base="http://x",
                     health=({"name": "ready", "path": "/r", "port": None},), run_id="r1")
    again = StackPlan.from_json(plan.to_json())
    assert again == plan and again.release_number == 3 and again.previous.number == 2
    assert Verdict.from_json(Verdict(roll_back_to=2, failed=3, containers_touched=False).to_json()).failed == 3


def test_deploy_lock_fact_reads_the_owner():
    owner = {"run": "r1", "operator": "ana", "controller": "c", "pids": [1]}
    assert DeployLock().process(["locked", json.dumps(owner)]) == owner
    assert DeployLock().process(["locked"]) == {}
    assert DeployLock().process([]) is None


def test_restore_script_lists_archives_before_extracting_and_restarts_only_changed_mounts():
    script = restore_script("/srv/s/releases/0002-ab", "r1", {"/srv/s/nginx/site.conf": ["nginx"]}, "dc",
                            touched=True, tags={"api:1": "sha256:1"})
    assert script.index("tar -tzf") < script.index("-xzpf")
    assert "/srv/s/nginx/site.conf) restart=\"$restart nginx\"" in script
    assert "docker tag sha256:1 api:1" in script and "dc up -d" in script
    untouched = restore_script("/srv/s/releases/0002-ab", "r1", {}, "dc", touched=False, tags={})
    assert "up -d" not in untouched and "restart" not in untouched.split("restart=''")[1]


def test_restore_script_extracts_no_secret_archive_and_restarts_services_of_restored_secret_files():
    script = restore_script("/srv/s/releases/0002-ab", "r1", {}, "dc", touched=True, tags={}, restarts=("api", "w"))
    assert "secret-files" not in script and "restart='api w'" in script
    assert 'if [ -n "$restart" ]; then dc restart $restart; fi' in script
    assert archive_check("/srv/s/releases/0002-ab").count("tar -tzf") == 1


def test_leftovers_include_the_secret_archives_older_releases_kept():
    from mooring.deploy.roles.stack import leftover_globs

    assert "/srv/s/releases/*/secret-files.tar.gz" in leftover_globs("/srv/s", ["/srv/s/.env"])


@pytest.mark.parametrize("lines,expected", [
    (['{"files": [{"path": "/s/.env", "content": "A=@@mooring-secret:A@@\\n", "mode": "0600", "owner": "root",'
      ' "group": "root", "dotenv": true}]}'],
     (MaskedFile("/s/.env", "A=@@mooring-secret:A@@\n", "0600", "root", "root", True),)),
    (['{"files": []}'], ()),
    ([], None),  # a release staged by an older mooring keeps none
    (["{not json"], None),
    (['{"files": [{"path": "/s/.env"}]}'], None),
], ids=["one", "none-secret", "absent", "damaged", "incomplete"])
def test_masked_files_fact(lines, expected):
    assert MaskedFiles().process(lines) == expected


def test_release_id_is_keyed(world, monkeypatch, tmp_path):
    """The release ID (world-readable on hosts) is an HMAC under the controller's key, not a plain
    hash of rendered files that hold secrets."""
    from mooring.deploy.roles.stack import release_id
    from mooring.declare.render import render_stack
    from tests.declared_world import model_for

    model = model_for("sandbox")
    rendered = render_stack(model)
    first = release_id(rendered, {}, model.stack)
    assert release_id(rendered, {}, model.stack) == first  # stable under one key
    plain = hashlib.sha256()
    for item in sorted(rendered.files, key=lambda f: f.path):
        plain.update(f"{item.path}\0{item.mode}\0{item.owner}\0{item.group}\0".encode())
        plain.update(item.content.encode())
    assert first != plain.hexdigest()[:12]
    other_state = tmp_path / "other-state"
    (other_state / "sandbox").mkdir(parents=True)
    monkeypatch.setenv("MOORING_STATE", str(other_state))
    assert release_id(rendered, {}, model.stack) != first  # another key, another ID


def test_write_record_redacts_every_secret(tmp_path, monkeypatch):
    """A secret that reached an error text or a probe body never reaches the record files."""
    from mooring.deployer import HostOutcome, Result, write_record
    from mooring.checks.probes import ProbeResult

    monkeypatch.setenv("MOORING_STATE", str(tmp_path / "state"))
    secret = 'p@ss "word" $x \\ y'
    plan = StackPlan(stack="s", directory="/srv/s", release=ReleaseRef(1, "ab"), new_release=True)
    outcome = HostOutcome("h1", Result.FAILED, plan=plan, error=f"db said: password {secret} rejected",
                          gate=[ProbeResult("ready", "http://x/r", ok=False, attempts=1, status=500,
                                            body=f"leak {secret}")])
    write_record(tmp_path, outcome, [secret])
    written = [p.read_text() for p in [*tmp_path.glob("record-*"), *(tmp_path / "state").rglob("*.*")]]
    assert len(written) == 4
    for text in written:
        assert secret not in text and json.dumps(secret)[1:-1] not in text
    assert "rejected" in (tmp_path / "record-h1.md").read_text()


def test_pruning_keeps_the_migration_marker_of_an_id_that_recurs():
    """A, B, A: pruning the first A must not remove the marker the current A shares (found by
    CI: the next deploy ran the migrations again)."""
    from mooring.deploy.facts.releases import Release, ReleaseHistory
    from mooring.deploy.operations.stack import pruned_paths

    history = ReleaseHistory([Release(6, "ee0c"), Release(7, "2187"), Release(13, "ee0c")], current="ee0c")
    paths = pruned_paths(history, {13}, Release(13, "ee0c"), "/s/releases")
    assert paths == ["/s/releases/0006-ee0c", "/s/releases/0007-2187", "/s/releases/migrated-2187"]


def lineage(*names: str, current: str, replaced: dict[str, str]) -> ReleaseHistory:
    """A history whose releases name the one they replaced (``replaces NNNN-<id>=MMMM-<id>`` lines)."""
    return Releases().process([*names, f"current={current}", *(f"replaces {new}={old}" for new, old in replaced.items())])


def test_previous_is_the_release_the_current_one_replaced_not_one_rolled_back_from():
    # 6 live, 7 deployed, rolled back to 6 on demand, then 8 deployed: 8 replaced 6, and 7 was rejected.
    h = lineage("0006-aaa", "0007-bbb", "0008-ccc", current="0008-ccc",
                replaced={"0007-bbb": "0006-aaa", "0008-ccc": "0006-aaa"})
    assert h.replaced == {7: 6, 8: 6}
    assert h.previous_good() == Release(6, "aaa")


def test_previous_goes_on_back_in_time_after_a_rollback():
    h = lineage("0005-eee", "0006-aaa", "0007-bbb", current="0006-aaa",
                replaced={"0006-aaa": "0005-eee", "0007-bbb": "0006-aaa"})
    assert h.previous_good() == Release(5, "eee")  # never forward to 7, the release rolled back from


def test_where_the_line_ends_the_newest_good_release_below_it_is_previous():
    # 8 replaced 5, which was pruned: the newest good release numbered below 5.
    pruned = lineage("0003-ddd", "0004-fff-failed", "0006-aaa", "0008-ccc", current="0008-ccc",
                     replaced={"0008-ccc": "0005-eee"})
    assert pruned.previous_good() == Release(3, "ddd")
    # staged by an older mooring (no replaces file): the newest good release below the current one
    assert history("0001-aaa", "0002-bbb-failed", "0003-ccc", current="0003-ccc").previous_good() == Release(1, "aaa")
    # no current release: the newest good one
    assert history("0001-aaa", "0002-bbb", "0003-ccc-failed").previous_good() == Release(2, "bbb")


def test_a_failed_release_in_the_line_is_passed_over():
    h = lineage("0001-aaa", "0002-bbb-failed", "0003-ccc", current="0003-ccc",
                replaced={"0003-ccc": "0002-bbb", "0002-bbb": "0001-aaa"})
    assert h.previous_good() == Release(1, "aaa")


def test_unreadable_replaces_lines_are_ignored():
    h = Releases().process(["0001-aaa", "0002-bbb", "current=0002-bbb", "replaces 0002-bbb=garbage",
                            "replaces nonsense=0001-aaa", "replaces 0002-bbb", "replaces =0001-aaa"])
    assert h.replaced == {} and h.previous_good() == Release(1, "aaa")


def test_the_listing_shell_reports_what_each_release_replaced(tmp_path):
    """The fact's command, run by a real shell over a releases folder, read back by the fact."""
    import subprocess

    from mooring.deploy.facts.releases import releases_listing

    stack_dir = tmp_path / "stack dir"  # a space: the command quotes the path
    for name, replaces in (("0006-aaa", None), ("0007-bbb-failed", "0006-aaa"), ("0008-ccc", "0006-aaa")):
        (stack_dir / "releases" / name).mkdir(parents=True)
        if replaces:
            (stack_dir / "releases" / name / "replaces").write_text(replaces + "\n")
    (stack_dir / "releases" / "current").write_text("0008-ccc\n")
    out = subprocess.run(["sh", "-c", releases_listing(str(stack_dir))], capture_output=True, text=True, check=True)
    h = Releases().process(out.stdout.splitlines())
    assert h.replaced == {7: 6, 8: 6} and h.current_release() == Release(8, "ccc")
    assert h.previous_good() == Release(6, "aaa")
    empty = subprocess.run(["sh", "-c", releases_listing(str(tmp_path / "none"))], capture_output=True, text=True)
    assert Releases().process(empty.stdout.splitlines()).replaced == {}
