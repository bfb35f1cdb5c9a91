"""The pre-flight report over an inventory (``preflight_report``), host-free and in-process:
every refusal names the inventory it was asked about, lists no hosts and gives a finding with no
key path; a ``--group-data`` folder other than ``MOORING_GROUP_DATA`` is the one whose layers are
checked and whose layers decide which group a shared finding is reported for. Written for the
mutation run (docs/mutation.md)."""

from __future__ import annotations

import shutil

import yaml

from mooring.checks.findings import Finding, Outcome
from mooring.checks.preflight import DECLARED_CHECK, INVENTORY_CHECK, PreflightReport, preflight_report


def assert_refused(report: PreflightReport, inventory: str, check: str, subject: str) -> Finding:
    """A refusal: the report still names the inventory, lists no hosts and holds one FAILED
    finding about ``subject`` with no key path and no file (so its text shows neither)."""
    assert report.inventory == inventory
    assert report.hosts == ()
    assert not report.valid
    [finding] = report.findings
    assert (finding.check, finding.outcome, finding.subject, finding.path, finding.file) == (
        check, Outcome.FAILED, subject, "", "")
    assert finding.to_dict()["path"] == ""  # --json: an empty string, never null
    assert str(finding) == f"[failed] {subject}: {check}: {finding.message} (fix: {finding.fix})"
    return finding


def test_a_missing_declared_state_is_refused_naming_the_inventory(tmp_path, world):
    empty = tmp_path / "empty"
    empty.mkdir()
    finding = assert_refused(preflight_report(str(world.inventory), ["sandbox"], empty), str(world.inventory),
                             DECLARED_CHECK, str(empty))
    assert f"{empty}/all.yml" in finding.message


def test_a_missing_inventory_is_refused_naming_it(world):
    missing = str(world.root / "inventory" / "missing.py")
    finding = assert_refused(preflight_report(missing), missing, INVENTORY_CHECK, missing)
    assert missing in finding.message


def test_a_limit_matching_no_host_is_refused_naming_the_inventory(world):
    inventory = str(world.inventory)
    finding = assert_refused(preflight_report(inventory, ["nobody"], world.group_data), inventory,
                             INVENTORY_CHECK, inventory)
    assert "nobody" in finding.message


def test_a_checked_inventory_is_named_with_its_hosts(world):
    inventory = str(world.inventory)
    report = preflight_report(inventory, ["sandbox"])
    assert report.inventory == inventory
    assert [h.name for h in report.hosts] == ["docker-1", "docker-2"]


def other_group_data(world, tmp_path):
    """A second declared state, a copy of the world's one (MOORING_GROUP_DATA stays on the world)."""
    other = tmp_path / "other_group_data"
    shutil.copytree(world.group_data, other)
    return other


def test_the_group_data_given_is_the_one_checked(world, tmp_path):
    other = other_group_data(world, tmp_path)
    data = yaml.safe_load((other / "sandbox.yml").read_text())
    data["stack"]["services"]["api"]["image"] = 5
    (other / "sandbox.yml").write_text(yaml.safe_dump(data))
    inventory = str(world.inventory)
    assert preflight_report(inventory, ["sandbox"]).valid  # the world's own declared state is fine
    report = preflight_report(inventory, ["sandbox"], other)
    assert not report.valid
    declared = [(f.outcome, f.subject, f.path, f.file) for f in report.findings if f.check == DECLARED_CHECK]
    assert declared == [(Outcome.FAILED, "group:sandbox", "stack.services.api.image", str(other / "sandbox.yml"))]


def test_a_shared_finding_goes_to_the_group_with_a_layer_in_the_group_data_given(world, tmp_path):
    # docker-1 and docker-2 are in three groups with the same hosts: canary (listed first),
    # sandbox and the inventory file's group test_hosts. Only sandbox has a layer in the
    # folder checked; MOORING_GROUP_DATA's folder also has one for canary.
    other = other_group_data(world, tmp_path)
    world.layer("canary.yml").write_text("{}\n")
    inventory = world.inventory
    inventory.write_text('canary = ["docker-1", "docker-2"]\n' + inventory.read_text())
    report = preflight_report(str(inventory), ["sandbox"], other)
    assert [h.groups for h in report.hosts] == [("canary", "sandbox", "test_hosts")] * 2
    assert report.valid
    # a finding with no file (the declared state's and the render's "ok") is every host's
    shared = [(f.check, f.subject) for f in report.findings if f.check in (DECLARED_CHECK, "render.templates")]
    assert shared == [(DECLARED_CHECK, "group:sandbox"), ("render.templates", "group:sandbox")]
    assert not [f for f in report.findings if f.subject == "group:canary"]
