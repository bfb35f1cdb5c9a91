"""mooring's facts parse what hosts print; release bookkeeping decides what to keep. Pure data
tests (the same facts run against real boxes in test_bootstrap.py and test_deploy.py)."""

from __future__ import annotations

import pytest

from mooring.deploy.facts.compose import ComposeInstall
from mooring.deploy.facts.releases import Release, Releases, ReleaseHistory
from mooring.deploy.facts.stack import ComposeProject
from mooring.deploy.operations.stack import keep_set

HASH_API, HASH_DB = "a" * 64, "b" * 64
IMG_API, IMG_DB = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def container(service, config_hash, status="running", image=IMG_API, exit_code="0", health="healthy"):
    return "container " + "\t".join([service, "c" * 64, config_hash, status, image, "2026-11-26T06:00:00Z", health,
                                     exit_code])


PROJECT_CASES = [
    pytest.param([f"desired api {HASH_API}", f"image mooring/api:1 {IMG_API}", container("api", HASH_API)],
                 [], id="up-to-date"),
    pytest.param([f"desired api {HASH_API}", f"image mooring/api:1 {IMG_API}", container("api", "f" * 64)],
                 ["api"], id="config-hash-differs"),
    pytest.param([f"desired api {HASH_API}", f"image mooring/api:1 {IMG_DB}", container("api", HASH_API)],
                 ["api"], id="image-id-differs"),
    pytest.param([f"desired api {HASH_API}", f"image mooring/api:1 {IMG_API}"], ["api"], id="container-missing"),
    pytest.param([f"desired api {HASH_API}", f"image mooring/api:1 {IMG_API}",
                  container("api", HASH_API, status="exited", exit_code="1")], ["api"], id="crashed"),
    pytest.param([f"desired api {HASH_API}", f"image mooring/api:1 {IMG_API}",
                  container("api", HASH_API, status="exited", exit_code="0")], [], id="finished-one-shot-job"),
    pytest.param([f"desired api {HASH_API}", f"image mooring/api:1 {IMG_API}",
                  "container " + "\t".join(["api", "x"])], ["api"], id="unparsable-line-ignored"),
]


@pytest.mark.parametrize("lines,stale", PROJECT_CASES)
def test_compose_project_out_of_date(lines, stale):
    state = ComposeProject().process(lines)
    assert state.out_of_date({"api": "mooring/api:1"}, {"api": "no"}) == stale


def test_orphans_are_containers_of_undeclared_services():
    state = ComposeProject().process([f"desired api {HASH_API}", container("api", HASH_API),
                                      container("worker", HASH_DB)])
    assert state.orphans() == ["worker"]


def test_compose_install_parses_v1_and_plugin():
    state = ComposeInstall().process(["plugin_version=2.40.3", "plugin_sha256=" + "e" * 64,
                                      "v1_path=/usr/bin/docker-compose", "v1_version=1.29.2",
                                      "v1_package=docker-compose"])
    assert state.has_v1 and state.plugin_version == "2.40.3" and state.v1_package == "docker-compose"
    assert not ComposeInstall.default().has_v1


def test_a_standalone_compose_v2_is_not_v1():
    assert not ComposeInstall().process(["v1_path=/usr/local/bin/docker-compose", "v1_version=2.20.0"]).has_v1


def test_releases_parse_and_previous_good():
    history = Releases().process(["0001-aaa", "0002-bbb-failed", "0003-ccc", "migrated-ccc", "current", "current=ccc"])
    assert [r.dirname for r in history.releases] == ["0001-aaa", "0002-bbb-failed", "0003-ccc"]
    assert history.current_release().number == 3
    assert history.previous_good().number == 1  # 2 failed: never a rollback target
    assert history.next_number() == 4


@pytest.mark.parametrize("releases,current,new,keep,kept", [
    pytest.param(["1-a", "2-b", "3-c"], "c", 4, 2, {3, 4}, id="keep-2"),
    pytest.param(["1-a", "2-b-failed", "3-c-failed", "4-d-failed"], "a", 5, 2, {1, 5}, id="failed-never-count"),
    pytest.param(["1-a", "2-b", "3-c"], "c", 4, 5, {1, 2, 3, 4}, id="keep-more-than-exist"),
])
def test_keep_set_never_prunes_current_or_last_good(releases, current, new, keep, kept):
    parsed = [Release(int(r.split("-")[0]), r.split("-")[1], r.endswith("-failed")) for r in releases]
    assert keep_set(ReleaseHistory(parsed, current), new, keep) == kept
