"""Roles that turn a bare Debian box into a docker host (``deploy/bootstrap.py`` runs them)."""

from __future__ import annotations

from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.server import LinuxDistribution
from pyinfra.operations.util import any_changed
from pyinfra.operations import apt, files, server

from deploy.operations import compose
from deploy.operations.files import validated_put
from mooring.model import Bootstrap

BASE_PACKAGES = ["ca-certificates", "cron", "sudo", "tzdata", "openssh-server", "gzip"]
DOCKER_APT_KEY = "https://download.docker.com/linux/debian/gpg"
DOCKER_APT_REPO = "deb [signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/debian {codename} stable"

SSHD_DROPIN = "/etc/ssh/sshd_config.d/00-mooring.conf"
SSHD_SETTINGS = """# Managed by mooring: root by key only, no passwords anywhere.
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
"""
SSHD_RELOAD = (
    "if command -v systemctl >/dev/null && systemctl is-active -q ssh 2>/dev/null; then systemctl reload ssh; "
    "elif [ -s /run/sshd.pid ]; then kill -HUP \"$(cat /run/sshd.pid)\"; else service ssh reload; fi"
)
WAIT_FOR_DOCKER = "for i in $(seq 60); do docker info >/dev/null 2>&1 && exit 0; sleep 1; done; docker info"


def installed(name: str, packages: list[str], refresh_if=None):
    """Install ``packages``; update apt's lists first only when one is missing (or when
    ``refresh_if`` says a source changed), so that a run with everything present changes
    nothing, however old the lists are."""
    present = host.get_fact(DebPackages)
    if any(p not in present for p in packages):
        apt.update(name=f"{name}: apt lists")
    elif refresh_if is not None:
        apt.update(name=f"{name}: apt lists", _if=refresh_if)
    return apt.packages(name=name, packages=packages, no_recommends=True)


@deploy("Base system")
def base_system(boot: Bootstrap) -> None:
    """Packages every host needs, cron running, the timezone, mooring's directories."""
    installed("Base packages", BASE_PACKAGES)
    server.service(name="cron running", service="cron", running=True, enabled=True)
    link = files.link(name=f"Timezone {boot.timezone}", path="/etc/localtime",
                      target=f"/usr/share/zoneinfo/{boot.timezone}")
    name = files.put(name="/etc/timezone", src=StringIO(f"{boot.timezone}\n"), dest="/etc/timezone", mode="644")
    # cron reads the zone at start: "02:00" must mean 02:00 in the declared zone.
    server.service(name="cron restarted (timezone changed)", service="cron", restarted=True,
                   _if=any_changed(link, name))
    files.directory(name=f"Stacks dir {boot.base_dir}", path=boot.base_dir, user="root", group="root", mode="755")
    files.directory(name=f"Backups dir {boot.backup_dir}", path=boot.backup_dir, user="root", group="root", mode="750")


@deploy("Docker engine")
def docker_engine(boot: Bootstrap) -> None:
    """Docker engine installed from the declared source, running and enabled at boot."""
    refresh_if = None
    if boot.docker_source == "docker-apt":
        # Not exercised here (no route to download.docker.com); Debian's docker.io is the default.
        codename = (host.get_fact(LinuxDistribution).get("release_meta") or {}).get("VERSION_CODENAME", "bookworm")
        installed("curl", ["curl"])
        files.directory(name="apt keyrings", path="/etc/apt/keyrings", mode="755")
        key = files.download(name="Docker's apt key", src=DOCKER_APT_KEY, dest="/etc/apt/keyrings/docker.asc",
                             mode="644")
        repo = apt.repo(name="Docker's apt repository", src=DOCKER_APT_REPO.format(codename=codename),
                        filename="docker")
        refresh_if = any_changed(key, repo)
        packages = ["docker-ce", "docker-ce-cli", "containerd.io"]
    else:
        packages = ["docker.io"]
    engine = installed("Docker engine packages", packages, refresh_if=refresh_if)
    running = server.service(name="Docker running", service="docker", running=True, enabled=True)
    server.shell(name="Wait for the Docker socket", commands=[WAIT_FOR_DOCKER],
                 _if=any_changed(engine, running))


@deploy("Compose v1")
def no_compose_v1(boot: Bootstrap) -> None:
    """No Compose v1 on the host: removed, or the host refused, per ``bootstrap.compose_v1``."""
    compose.v1_absent(name="No Compose v1", policy=boot.compose_v1)


@deploy("Compose v2")
def compose_v2() -> None:
    """The pinned Compose v2 plugin, checksum-verified."""
    files.directory(name="CLI plugins dir", path="/usr/local/lib/docker/cli-plugins", mode="755")
    compose.plugin(name="Compose v2 plugin")


@deploy("Deploy user")
def deploy_user(boot: Bootstrap) -> None:
    """The deploy user: declared keys only, docker group, passwordless sudo (visudo-checked)."""
    server.user(
        name=f"User {boot.deploy_user}", user=boot.deploy_user, shell="/bin/bash", home=f"/home/{boot.deploy_user}",
        create_home=True, groups=["docker"], append=True, public_keys=list(boot.authorized_keys), delete_keys=True,
    )
    validated_put(
        name=f"Passwordless sudo for {boot.deploy_user}", dest=f"/etc/sudoers.d/mooring-{boot.deploy_user}",
        content=f"{boot.deploy_user} ALL=(ALL) NOPASSWD:ALL\n", mode="440", validate="visudo -c -q",
    )


@deploy("SSH hardening")
def ssh_hardening() -> None:
    """Root by key only, password logins off; ``sshd -t`` must accept it before the reload."""
    files.directory(name="sshd drop-in dir", path="/etc/ssh/sshd_config.d", mode="755")
    validated_put(name="sshd: keys only", dest=SSHD_DROPIN, content=SSHD_SETTINGS, mode="644",
                  validate="sshd -t", then=SSHD_RELOAD)
