"""The services half of the deploy gate: after the HTTP probes passed, every declared service's
container must run, be healthy where it has a healthcheck, and keep its restart count between
two looks. Host-free tests drive the gate's policy with snapshots built as data; the box test
deploys a release whose extra service crash-loops beside a healthy API: the deploy fails, rolls
back, and the good release stays current.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time

import pytest

from mooring.checks.snapshot import HostSnapshot, ImageState, ServiceState
from tests.conftest import group_data_with, run_mooring, ssh
from tests.declared_world import HOSTS, model_for


mooring = run_mooring


def snapshot_of(model, state: str = "running", health: str = "healthy", restarts: int = 0,
                only: str | None = None) -> HostSnapshot:
    """Every service of ``model`` running on its image; ``only`` (or every service) in ``state``."""
    stack = model.stack
    refs = list(dict.fromkeys(service.image for service in stack.services.values()))
    images = tuple(ImageState(f"sha256:{index:064x}", (ref,)) for index, ref in enumerate(refs))
    ids = {image.tags[0]: image.id for image in images}
    containers = tuple(ServiceState(
        name, f"{stack.name}-{name}-1", f"c{index}", state if only in (None, name) else "running",
        (health if only in (None, name) else "healthy") if service.healthcheck else "none",
        ids[service.image], service.image, restart_count=restarts if only in (None, name) else 0)
        for index, (name, service) in enumerate(stack.services.items()))
    return HostSnapshot(model.name, 1, 0, services=containers, images=images)


def gate(world, monkeypatch, looks: list) -> "object":
    """Run the services gate for one sandbox host over ``looks`` (one snapshot per poll)."""
    from mooring import deployer

    host = HOSTS["sandbox"][0]
    monkeypatch.setattr(deployer, "SERVICES_GATE_S", 0.5)
    monkeypatch.setattr(deployer, "SERVICES_POLL_S", 0.01)
    seen = iter(looks)
    monkeypatch.setattr(deployer, "_snapshots", lambda inventory, hosts: {host: next(seen)} if looks else {})
    outcome = deployer.HostOutcome(host, deployer.Result.DEPLOYED)
    report = deployer.DeployReport(hosts=[outcome])
    deployer._services_gate("inventories/sandbox.py", report, {host: ["sandbox"]})
    return outcome


def test_healthy_twice_with_the_same_restart_counts_passes(world, monkeypatch):
    model = model_for("sandbox")
    outcome = gate(world, monkeypatch, [snapshot_of(model), snapshot_of(model)])
    assert outcome.outcome.name == "DEPLOYED", outcome.error


def test_a_restarting_service_fails_the_release_with_its_name(world, monkeypatch):
    model = model_for("sandbox")
    looks = [snapshot_of(model, state="restarting", only="redis") for _ in range(200)]
    outcome = gate(world, monkeypatch, looks)
    assert outcome.outcome.name == "FAILED"  # at once: a crash does not wait for the deadline
    assert outcome.error == "services not running and healthy: redis is restarting", outcome.error


def test_a_service_caught_running_between_two_crashes_does_not_pass(world, monkeypatch):
    model = model_for("sandbox")
    looks = [snapshot_of(model, restarts=n, only="redis") for n in range(200)]  # running, but restarted each time
    outcome = gate(world, monkeypatch, looks)
    assert outcome.outcome.name == "FAILED"
    assert outcome.error == "services not running and healthy: redis restarted between two looks (it crashed)"


def test_a_service_still_starting_at_the_deadline_fails(world, monkeypatch):
    model = model_for("sandbox")
    outcome = gate(world, monkeypatch, [snapshot_of(model, health="starting", only="db") for _ in range(200)])
    assert outcome.outcome.name == "FAILED" and outcome.error.startswith("services not running and healthy after")
    assert "db is starting" in outcome.error


def test_an_unreachable_host_fails_the_gate(world, monkeypatch):
    outcome = gate(world, monkeypatch, [])
    assert outcome.outcome.name == "FAILED" and "no snapshot of the host" in outcome.error


def restored_view(model, containers) -> "object":
    from mooring.checks.live import HostView
    from mooring.declare.render import render_stack

    return HostView(model, render_stack(model), dataclasses.replace(snapshot_of(model), services=tuple(containers)))


def container(service: str, state: str = "running", health: str = "none", image_id: str = "sha256:old",
              exit_code: int | None = None, oneoff: bool = False) -> ServiceState:
    return ServiceState(service, f"solacore-{service}-1", f"id-{service}", state, health, image_id, "old:ref",
                        exit_code=exit_code, restart_count=0, oneoff=oneoff)


def test_a_restored_release_is_judged_by_its_own_containers_not_by_the_declared_images_or_services(world):
    """After a rollback the api runs the older image and a service the new release dropped runs
    again: neither is a problem; a crash, an unhealthy check or a stopped service is."""
    from mooring.checks.live import restored_services

    model = model_for("sandbox")
    fine = [container("api", health="healthy"), container("db", health="healthy"), container("worker"),
            container("migrate", state="exited", exit_code=1, oneoff=True)]  # a `compose run` leftover: not judged
    [passed] = restored_services(restored_view(model, fine))
    assert (passed.check, passed.outcome.name, passed.resource, passed.message) == (
        "live.services", "PASSED", "services", "3 containers running")
    cases = [
        (container("worker", state="restarting"), "FAILED", "worker is restarting", "", "restarting"),
        (container("api", state="exited", exit_code=0), "FAILED", "api is exited", "stack.services.api", "exited"),
        (container("db", health="unhealthy"), "FAILED", "db is unhealthy", "stack.services.db", "unhealthy"),
        (container("db", health="starting"), "WARNING", "db is starting", "stack.services.db", "starting"),
    ]
    for bad, outcome, message, path, actual in cases:
        containers = [c for c in fine if c.service != bad.service] + [bad]
        [found] = restored_services(restored_view(model, containers))
        assert (found.outcome.name, found.message, found.path, found.actual, found.resource) == (
            outcome, message, path, actual, f"service:{bad.service}"), found
    [none] = restored_services(restored_view(model, []))
    assert (none.check, none.outcome.name, none.resource, none.message, none.fix, none.actual) == (
        "live.services", "FAILED", "services", "no container of the stack exists",
        "read `mooring -v rollback`: the restore did not start the release", "absent")


def test_a_finished_one_shot_job_passes_after_a_rollback_only_when_declared_restart_no(world):
    from mooring.checks.live import restored_services

    data = world.read("sandbox.yml")
    data["stack"]["services"]["seed"] = {"image": "mooring/api:1.0.0", "image_source": "ship", "restart": "no",
                                         "command": ["python3", "-m", "app", "migrate"]}
    world.write("sandbox.yml", data)
    model = model_for("sandbox")
    done = container("seed", state="exited", exit_code=0)
    assert [f.outcome.name for f in restored_services(restored_view(model, [done]))] == ["PASSED"]
    undeclared = dataclasses.replace(done, service="cleanup")  # its restart policy is unknown: exited is down
    assert [f.message for f in restored_services(restored_view(model, [undeclared]))] == ["cleanup is exited"]


def test_the_services_gate_of_an_on_demand_rollback_accepts_the_older_image(world, monkeypatch):
    """The same look: stale for a deploy of the declared release, fine for a restored one."""
    from mooring import deployer

    model = model_for("sandbox")
    old = snapshot_of(model)
    old = dataclasses.replace(old, services=tuple(dataclasses.replace(c, image_id="sha256:older")
                                                  if c.service == "api" else c for c in old.services))
    host = HOSTS["sandbox"][0]
    monkeypatch.setattr(deployer, "SERVICES_GATE_S", 0.2)
    monkeypatch.setattr(deployer, "SERVICES_POLL_S", 0.01)
    monkeypatch.setattr(deployer, "_snapshots", lambda inventory, hosts: {host: old})
    for restored, outcome, error in ((False, "FAILED", "services not running and healthy after 0.2 s: api runs another "
                                      "image than mooring/api:1.0.0 names now (stale)"), (True, "DEPLOYED", "")):
        gated = deployer.HostOutcome(host, deployer.Result.DEPLOYED)
        deployer._services_gate("inventories/sandbox.py", deployer.DeployReport(hosts=[gated]), {host: ["sandbox"]},
                                restored=restored)
        assert (gated.outcome.name, gated.error) == (outcome, error)


CRASHER = """\
stack:
  services:
    crasher:
      image: mooring/redis:7
      image_source: ship
      command: [sh, -c, "echo crashing; exit 3"]
"""


@pytest.mark.boxes
@pytest.mark.slow
def test_a_release_whose_service_crash_loops_is_rolled_back(bootstrapped, boxes, tmp_path):
    box = boxes.boxes[0]
    assert mooring("deploy", "sandbox", "--limit", box.name).returncode == 0
    current = ssh(box, "cat /srv/mooring/solacore/releases/current").stdout.strip()
    assert current, "no current release after a good deploy"
    data = group_data_with(tmp_path, box.name, CRASHER)
    target = tmp_path / "deploy.json"
    started = time.monotonic()
    try:
        out = mooring("deploy", "sandbox", "--limit", box.name, "--json", str(target), group_data=data)
        assert out.returncode == 1, out.stdout + out.stderr[-3000:]
        [host] = json.loads(target.read_text())["hosts"]
        # Whichever look catches it (restarting, exited, or running with a higher restart count), the
        # reason names the crashing service.
        assert re.search(r"crasher (is restarting|is exited|restarted between two looks)", host["error"]), host
        # Rolled back: the crashing container is gone, the good release is current again and serves.
        assert ssh(box, "docker ps -aq --filter label=com.docker.compose.service=crasher").stdout.strip() == ""
        assert ssh(box, "cat /srv/mooring/solacore/releases/current").stdout.strip() == current
    finally:  # the declared release goes back on the box even when an assert above failed
        again = mooring("deploy", "sandbox", "--limit", box.name, "--json", str(tmp_path / "again.json"))
    assert again.returncode == 0, again.stdout
    assert time.monotonic() - started < 600


def test_a_one_shot_job_that_finished_passes_and_one_that_failed_does_not(world, monkeypatch):
    from mooring.checks.live import HostView, services_running
    from mooring.declare.render import render_stack

    data = world.read("sandbox.yml")
    data["stack"]["services"]["seed"] = {"image": "mooring/api:1.0.0", "image_source": "ship", "restart": "no",
                                         "command": ["python3", "-m", "app", "migrate"]}
    world.write("sandbox.yml", data)
    model = model_for("sandbox")
    for exit_code, passes in ((0, True), (1, False)):
        base = snapshot_of(model)
        services = tuple(dataclasses.replace(c, state="exited", exit_code=exit_code) if c.service == "seed" else c
                         for c in base.services)
        found = services_running(HostView(model, render_stack(model), dataclasses.replace(base, services=services)))
        assert [f.outcome.name for f in found] == (["PASSED"] if passes else ["FAILED"]), found
