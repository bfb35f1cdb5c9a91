"""Which address a probe on a host port is asked at (the model's ``_published_ip``), when more
than one service publishes that port: the proxy's mapping first, then one on every address, then
the first found. Host-free: the production world's model, probes read back from it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.test_mutants_probes_gate import declared_stack


def smoke_target(world: Any, probe: dict[str, Any], ports: dict[str, list[str]]) -> tuple[int | None, str]:
    """(port, host_ip) of a smoke probe declared with ``probe``'s port/service settings."""
    [smoke] = declared_stack(world, smoke=[{"name": "p", "path": "/x", **probe}], ports=ports).smoke
    return smoke.port, smoke.host_ip


def smoke_address(world: Any, port: int | None, ports: dict[str, list[str]], **services: dict[str, Any]) -> str:
    """The host_ip of a smoke probe on host port ``port`` (None: the proxy's HTTP port)."""
    if services:
        data = world.read("production.yml")
        for name, settings in services.items():
            data["stack"]["services"].setdefault(name, {}).update(settings)
        world.write("production.yml", data)
    return smoke_target(world, {"port": port} if port else {}, ports)[1]


def test_the_proxys_mapping_wins_over_another_services(world):
    """api (declared before nginx) publishes the same host port on another address."""
    assert smoke_address(world, None, {"api": ["10.0.0.9:80:8000"], "nginx": ["127.0.0.1:80:80"]}) == "127.0.0.1"


@pytest.mark.parametrize("every_address", ["9000:9090", "0.0.0.0:9000:9090", "[::]:9000:9090"])
def test_without_the_proxy_a_mapping_on_every_address_wins(world, every_address):
    """nginx publishes other ports only: of api's one address and prometheus' every address (in
    each spelling), the port is reachable on every address ("": the host's own address)."""
    ports = {"api": ["127.0.0.2:9000:8000"], "prometheus": [every_address], "nginx": ["127.0.0.1:80:80"]}
    assert smoke_address(world, 9000, ports) == ""


def test_without_the_proxy_and_on_one_address_the_first_found_is_asked(world):
    ports = {"api": ["127.0.0.2:9000:8000"], "nginx": ["127.0.0.1:80:80"]}
    assert smoke_address(world, 9000, ports) == "127.0.0.2"


def test_no_proxy_service_at_all_is_no_error(world):
    """nginx disabled: no proxy service; the port api publishes is still found."""
    assert smoke_address(world, 9000, {"api": ["127.0.0.2:9000:8000"]}, nginx={"enabled": False}) == "127.0.0.2"


def test_the_proxys_mapping_wins_over_one_on_every_ipv6_address(world):
    """nginx on one IPv4 address, api on every IPv6 address: the proxy is what the probe asks."""
    ports = {"api": ["[::]:9000:8000"], "nginx": ["127.0.0.1:80:80", "127.0.0.1:9000:81"]}
    assert smoke_address(world, 9000, ports) == "127.0.0.1"


def test_the_proxy_publishing_the_port_over_udp_only_does_not_count(world):
    ports = {"api": ["127.0.0.2:9000:8000"], "prometheus": ["9000:9090"],
             "nginx": ["127.0.0.1:80:80", "127.0.0.1:9000:81/udp"]}
    assert smoke_address(world, 9000, ports) == ""


def test_a_probe_of_the_upstream_publishing_nothing_goes_through_the_proxys_address(world):
    assert smoke_target(world, {"service": "api"}, {"api": [], "nginx": ["127.0.0.1:80:80"]}) == (80, "127.0.0.1")


def test_a_probe_of_an_undeclared_service_keeps_its_port_on_the_hosts_address(world):
    """The rule services.references refuses it; the model itself still builds."""
    assert smoke_target(world, {"service": "ghost", "port": 9000}, {"nginx": ["127.0.0.1:80:80"]}) == (9000, "")
