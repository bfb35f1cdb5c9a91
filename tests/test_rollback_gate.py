"""The rollback's gate on real boxes: an on-demand rollback across an image change is judged by
the restored release's own containers (the repository still declares the new image), and a
deploy's automatic rollback is gated by the restored release's services, not by HTTP alone.
The gate's policy as data is in tests/test_services_gate.py; these box tests live apart so that
``--dist loadfile`` can run them on another worker.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import group_data_with, run_mooring, ssh


mooring = run_mooring


NEWER_API = "stack:\n  services:\n    api:\n      image: mooring/api:1.0.1\n"


@pytest.mark.boxes
@pytest.mark.slow
def test_an_on_demand_rollback_across_an_image_change_is_judged_by_the_restored_release(bootstrapped, boxes,
                                                                                       tmp_path):
    """The repository still declares the new image (that is why one rolls back): the restored
    release runs the older one, and the services gate must not call that stale."""
    box = boxes.boxes[0]
    assert mooring("deploy", "sandbox", "--limit", box.name).returncode == 0
    older = ssh(box, "cat /srv/mooring/solacore/releases/current").stdout.strip()
    data = group_data_with(tmp_path, box.name, NEWER_API)
    try:
        out = mooring("deploy", "sandbox", "--limit", box.name, group_data=data)
        assert out.returncode == 0, out.stdout + out.stderr[-3000:]
        containers_before = None
        for asked in ([], ["--to", older[:4].lstrip("0")]):  # previous, then the same release again
            target = tmp_path / "rollback.json"
            out = mooring("rollback", "sandbox", "--limit", box.name, *asked, "--json", str(target), group_data=data)
            assert out.returncode == 0, out.stdout + out.stderr[-3000:]
            [host] = json.loads(target.read_text())["hosts"]
            assert host["outcome"] == "rolled_back" and host["error"] == "", host
            assert ssh(box, "cat /srv/mooring/solacore/releases/current").stdout.strip() == older
            image = ssh(box, "docker inspect -f '{{.Config.Image}}' "
                             "$(docker ps -q --filter label=com.docker.compose.service=api)").stdout.strip()
            assert image == "mooring/api:1.0.0", image
            running = ssh(box, "docker ps -q --no-trunc | sort").stdout
            assert containers_before in (None, running), "a second rollback to the same release restarted containers"
            containers_before = running
    finally:
        again = mooring("deploy", "sandbox", "--limit", box.name, "--json", str(tmp_path / "again.json"))
    assert again.returncode == 0, again.stdout


def poisoned(command: str) -> str:
    """An extra service on a named volume: a release whose ``crasher`` runs ``command``."""
    return ("stack:\n  services:\n    crasher:\n      image: mooring/redis:7\n      image_source: ship\n"
            "      volumes:\n        - {source: crashdata, target: /data}\n"
            f"      command: [sh, -c, {json.dumps(command)}]\n")


#: Release A's crasher serves until it finds the poison; release B's leaves it there and crashes:
#: what a new release's data migration does to the older code that a rollback restores.
HEALTHY_UNTIL_POISONED = poisoned("if [ -e /data/poison ]; then echo poisoned; exit 3; fi; "
                                  "trap 'exit 0' TERM; sleep 100000 & wait")
POISONING = poisoned("touch /data/poison; exit 3")


@pytest.mark.boxes
@pytest.mark.slow
def test_a_deploy_s_rollback_is_gated_by_the_restored_release_s_services(bootstrapped, boxes, tmp_path):
    """The deploy fails on its crash-looping service and rolls back; the restored release's own
    service crash-loops too (the new release changed its data): the rollback's HTTP probes pass,
    and the services half of its gate says it did not hold."""
    box = boxes.boxes[0]
    a = group_data_with(tmp_path / "a", box.name, HEALTHY_UNTIL_POISONED)
    b = group_data_with(tmp_path / "b", box.name, POISONING)
    try:
        out = mooring("deploy", "sandbox", "--limit", box.name, group_data=a)
        assert out.returncode == 0, out.stdout + out.stderr[-3000:]
        good = ssh(box, "cat /srv/mooring/solacore/releases/current").stdout.strip()
        target = tmp_path / "b.json"
        out = mooring("deploy", "sandbox", "--limit", box.name, "--json", str(target), group_data=b)
        assert out.returncode == 1, out.stdout + out.stderr[-3000:]
        [host] = json.loads(target.read_text())["hosts"]
        assert host["outcome"] == "rolled_back" and host["rolled_back_to"] == int(good[:4]), host
        assert all(p["ok"] for p in host["rollback_gate"]), host  # the API answers: HTTP alone would pass it
        assert re.fullmatch(r"services not running and healthy: crasher (is restarting|is exited|restarted between "
                            r"two looks \(it crashed\))", host["rollback_services"]), host["rollback_services"]
        assert "after rollback: services not running and healthy: crasher" in out.stdout, out.stdout
        assert ssh(box, "cat /srv/mooring/solacore/releases/current").stdout.strip() == good
    finally:  # the declared release goes back, and the poisoned volume goes
        again = mooring("deploy", "sandbox", "--limit", box.name, "--json", str(tmp_path / "again.json"))
        ssh(box, "docker volume rm -f solacore_crashdata")
    assert again.returncode == 0, again.stdout
