"""The pre-flight (``mooring validate``) refuses an inventory that weakens host-key checking,
naming the inventory file, the host and the key; strict stays mooring's default (host-free)."""

from __future__ import annotations

import pytest

from mooring.checks.preflight import HOST_KEYS_CHECK, inventory_hosts, preflight_report


def write_inventory(world, text: str):
    path = world.root / "inventory" / "staging.py"
    path.write_text(text)
    return path


@pytest.mark.parametrize("setting", ["no", "off", "accept-new"])
def test_a_weakened_host_key_setting_is_a_finding(world, setting):
    path = write_inventory(world, f'staging = [("staging-1.example.invalid", {{"ssh_strict_host_key_checking": "{setting}"}})]\n')
    findings = [f for f in preflight_report(str(path)).findings if f.check == HOST_KEYS_CHECK]
    assert len(findings) == 1
    finding = findings[0]
    assert finding.outcome.value == "failed" and finding.file == str(path)
    assert finding.path == "staging-1.example.invalid.ssh_strict_host_key_checking"
    assert repr(setting) in finding.message and "mooring_first_contact" in finding.fix


def test_group_data_in_the_inventory_counts_too(world):
    path = write_inventory(world, 'staging = (["staging-1.example.invalid"], {"ssh_strict_host_key_checking": "no"})\n')
    assert [f.subject for f in preflight_report(str(path)).findings if f.check == HOST_KEYS_CHECK] == [
        "staging-1.example.invalid"]
    assert inventory_hosts(str(path))[0].data == {"ssh_strict_host_key_checking": "no"}


def test_strict_by_default_and_first_contact_pass(world):
    default = write_inventory(world, 'staging = ["staging-1.example.invalid"]\n')
    report = preflight_report(str(default))
    assert not [f for f in report.findings if f.check == HOST_KEYS_CHECK] and report.valid
    first = write_inventory(world, 'staging = [("staging-1.example.invalid", {"mooring_first_contact": True, '
                                   '"ssh_strict_host_key_checking": "accept-new", "ssh_known_hosts_file": "/tmp/kh"})]\n')
    assert not [f for f in preflight_report(str(first)).findings if f.check == HOST_KEYS_CHECK]
