"""Rules on services: unique published ports, references and dependency cycles, roles, the proxy."""

from __future__ import annotations

from mooring.checks.findings import Finding, Outcome
from mooring.checks.registry import RuleContext, rule
from mooring.checks.rules.common import RESERVED_HOST_PORTS, _service_path
from mooring.declare.dumps import ENGINES
from mooring.declare.model import Stack


@rule("ports.unique")
def ports_unique(ctx: RuleContext, name: str) -> list[Finding]:
    """No two services publish the same host port (and none takes sshd's port 22)."""
    found = []
    taken: list[tuple[str, object]] = []
    for service in ctx.stack.services.values():
        for index, port in enumerate(service.ports):
            path = _service_path(service, f"ports.{index}")
            if port.published in RESERVED_HOST_PORTS:
                found.append(ctx.finding(name, Outcome.FAILED, path,
                                         f"host port {port.published} belongs to {RESERVED_HOST_PORTS[port.published]} on the host",
                                         "publish another port"))
            for other_service, other in taken:
                if other.published == port.published and other.protocol == port.protocol and _ips_overlap(other.host_ip, port.host_ip):
                    found.append(ctx.finding(name, Outcome.FAILED, path,
                                             f"host port {port.published}/{port.protocol} is already published by service {other_service}",
                                             "publish a different host port (the first number in HOST:CONTAINER)"))
                    break
            taken.append((service.name, port))
    return found


def _ips_overlap(a: str, b: str) -> bool:
    wildcard = ("", "0.0.0.0", "::")
    return a == b or a in wildcard or b in wildcard


@rule("services.references")
def services_references(ctx: RuleContext, name: str) -> list[Finding]:
    """depends_on, migration, backups, proxy and probes name enabled services; no dependency cycles."""
    stack = ctx.stack
    data_services = ctx.model.data["stack"].get("services", {})
    found = []

    def missing(path: str, target: str | None, what: str) -> None:
        if target is None or target in stack.services:
            return
        state = "is disabled (enabled: false)" if target in data_services else "is not declared"
        found.append(ctx.finding(name, Outcome.FAILED, path, f"{what} {target!r}, which {state}",
                                 f"use one of: {', '.join(stack.services)}"))

    for service in stack.services.values():
        for target, condition in service.depends_on.items():
            path = _service_path(service, f"depends_on.{target}")
            if target == service.name:
                found.append(ctx.finding(name, Outcome.FAILED, path, "a service cannot depend on itself", "remove it"))
                continue
            missing(path, target, "depends on")
            other = stack.services.get(target)
            if other and condition == "service_healthy" and other.healthcheck is None:
                found.append(ctx.finding(name, Outcome.FAILED, path,
                                         f"waits for {target} to be healthy, but {target} has no healthcheck",
                                         f"declare a healthcheck for {target} in the compose file or use service_started"
                                         if stack.compose else
                                         f"declare stack.services.{target}.healthcheck or use service_started"))
    cycle = _dependency_cycle(stack)
    if cycle:
        found.append(ctx.finding(name, Outcome.FAILED, _service_path(stack.services[cycle[0]], "depends_on"),
                                 "dependency cycle: " + " → ".join(cycle), "remove one of these depends_on entries"))
    if stack.migration:
        missing("stack.migration.service", stack.migration.service, "the migration runs in")
    if stack.backups.enabled:
        if stack.backups.service is None:
            found.append(ctx.finding(name, Outcome.FAILED, "stack.backups.service",
                                     "backups are enabled but there is no database service (role postgres or mysql)",
                                     "declare a service with role: postgres (or mysql), set backups.service, "
                                     "or backups.enabled: false"))
        else:
            missing("stack.backups.service", stack.backups.service, "backups dump from")
            target = stack.services.get(stack.backups.service)
            if target and target.role not in ENGINES:
                found.append(ctx.finding(name, Outcome.FAILED, "stack.backups.service",
                                         f"backups dump from {target.name}, whose role is {target.role}, "
                                         "not postgres or mysql",
                                         "name the database service, or give it role: postgres (or mysql)"))
    missing("stack.proxy.service", stack.proxy.service, "the proxy is")
    missing("stack.proxy.upstream", stack.proxy.upstream, "the proxy forwards to")
    for kind in ("health", "smoke"):
        for index, probe in enumerate(getattr(stack, kind)):
            missing(f"stack.{kind}.{index}.service", probe.service, "the probe runs in")
            if probe.service and probe.port is None:
                found.append(ctx.finding(name, Outcome.FAILED, f"stack.{kind}.{index}.port",
                                         f"probe {probe.name} runs inside {probe.service} but names no port",
                                         "set port: the container port to ask, e.g. 8000"))
    return found


def _dependency_cycle(stack: Stack) -> list[str]:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for target in stack.services[node].depends_on:
            if target not in stack.services or target == node:
                continue
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        state[node] = 2
        path.pop()
        return []

    for node in stack.services:
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return []


@rule("services.roles")
def services_roles(ctx: RuleContext, name: str) -> list[Finding]:
    """At most one proxy, postgres and redis service (rules and templates use the first)."""
    found = []
    for role in ("proxy", "postgres", "redis"):
        services = ctx.stack.services_with_role(role)
        if len(services) > 1:
            found.append(ctx.finding(name, Outcome.WARNING, _service_path(services[1], "role"),
                                     f"{len(services)} services have role {role}; checks and templates use {services[0].name}",
                                     "give the others role: other"))
    return found


@rule("proxy.http_port")
def proxy_publishes_http_port(ctx: RuleContext, name: str) -> list[Finding]:
    """The proxy publishes the host port that probes and people use."""
    stack = ctx.stack
    if stack.http_port is not None:
        return []
    needs = [p for p in [*stack.health, *stack.smoke] if p.service is None and p.port is None]
    if stack.proxy.service is None and not needs:
        return []
    path = _service_path(stack.services[stack.proxy.service], "ports") if stack.proxy.service in stack.services else "stack.proxy.service"
    return [ctx.finding(name, Outcome.FAILED, path, "the proxy publishes no host port, so the stack cannot be reached",
                        f'publish it, e.g. ports: ["80:{stack.proxy.listen_port}"]')]


@rule("proxy.consistent")
def proxy_consistent(ctx: RuleContext, name: str) -> list[Finding]:
    """The proxy has an upstream to forward to and publishes a port onto its listen_port."""
    stack = ctx.stack
    service = stack.services.get(stack.proxy.service or "")
    if service is None:
        return []
    found = []
    if not stack.proxy.upstream:
        found.append(ctx.finding(name, Outcome.FAILED, "stack.proxy.upstream",
                                 f"proxy {service.name} has no upstream (no service with role app and none declared)",
                                 "set stack.proxy.upstream to the service it forwards to"))
    if service.ports and not any(p.target == stack.proxy.listen_port for p in service.ports):
        found.append(ctx.finding(name, Outcome.FAILED, _service_path(service, "ports"),
                                 f"no published port of {service.name} targets stack.proxy.listen_port "
                                 f"{stack.proxy.listen_port} (nginx listens there)",
                                 f'publish it, e.g. ports: ["80:{stack.proxy.listen_port}"], or change stack.proxy.listen_port'))
    return found
