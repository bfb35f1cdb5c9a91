"""Roles that turn a bare Debian box into a docker host (``deploy/bootstrap.py`` runs them)."""

from __future__ import annotations

import base64
import shlex
import time
from io import StringIO

from pyinfra import host
from pyinfra.api import StringCommand, deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.files import FileContents
from pyinfra.facts.server import LinuxDistribution
from pyinfra.operations.util import any_changed
from pyinfra.operations import apt, files, python, server

from mooring.deploy.operations import compose
from mooring.deploy.operations.files import validated_put
from mooring.declare.errors import ConfigError, ConfigProblem
from mooring.declare.model import Bootstrap

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
    if not boot.authorized_keys and host.data.get("ssh_user") == boot.deploy_user:
        # allow_no_keys is declared, but this very run logs in as the deploy user: emptying its
        # keys would lock mooring itself out. Refused before any operation.
        raise ConfigError(ConfigProblem(
            "", "bootstrap.allow_no_keys",
            f"{host.name} is reached as {boot.deploy_user}, whose authorized_keys would be emptied (lock-out)",
            "declare the key this inventory logs in with in bootstrap.authorized_keys, or log in as another user"))
    keys = server.user(
        name=f"User {boot.deploy_user}", user=boot.deploy_user, shell="/bin/bash", home=f"/home/{boot.deploy_user}",
        create_home=True, groups=["docker"], append=True, public_keys=list(boot.authorized_keys), delete_keys=True,
    )
    validated_put(
        name=f"Passwordless sudo for {boot.deploy_user}", dest=f"/etc/sudoers.d/mooring-{boot.deploy_user}",
        content=f"{boot.deploy_user} ALL=(ALL) NOPASSWD:ALL\n", mode="440", validate="visudo -c -q",
    )
    return keys


@deploy("SSH hardening")
def ssh_hardening(settings: str = SSHD_SETTINGS, keys: OperationMeta | None = None,
                  deploy_user: str | None = None) -> OperationMeta:
    """Root by key only, password logins off; ``sshd -t`` must accept it before the reload, and a
    fresh login must work after it.

    + settings: the drop-in's text (default: :data:`SSHD_SETTINGS`)
    + keys: the deploy user's key operation (``deploy_user``'s result), proven with the drop-in
    + deploy_user: whose ``authorized_keys`` is put back with the drop-in when the proof fails

    ``sshd -t`` only says the file parses: a drop-in can parse and still refuse the very login
    mooring uses (``PermitRootLogin no`` while the inventory logs in as root, an
    ``AllowUsers`` without it, changed keys). So whenever the drop-in or the keys changed,
    :func:`prove_login` opens a *new* SSH connection from the controller with this host's own
    inventory settings (address, port, user, key, known_hosts, strict host-key checking) and
    runs ``true``. That is exactly what the next mooring run will do, so it is the check that
    cannot pass while the next run would be locked out. It runs through pyinfra's own SSH
    client, needs nothing on the host (no spare port, no second sshd, no key on the box) and
    works in the sandbox boxes. When it fails, the still-open connection of this run puts the
    previous drop-in (and keys) back, reloads sshd, and the host fails naming what happened.

    **Example:**

    .. code:: python

        keys = docker_host.deploy_user(boot)
        docker_host.ssh_hardening(keys=keys, deploy_user=boot.deploy_user)
    """
    previous_dropin = _file_text(SSHD_DROPIN)
    keys_file = f"/home/{deploy_user}/.ssh/authorized_keys" if deploy_user else None
    previous_keys = _file_text(keys_file) if keys_file else None
    files.directory(name="sshd drop-in dir", path="/etc/ssh/sshd_config.d", mode="755")
    dropin = validated_put(name="sshd: keys only", dest=SSHD_DROPIN, content=settings, mode="644",
                           validate="sshd -t", then=SSHD_RELOAD)
    changed = [op for op in (dropin, keys) if op is not None]
    return python.call(name="sshd: a fresh login works", function=prove_login,
                       previous_dropin=previous_dropin, keys_file=keys_file, previous_keys=previous_keys,
                       _if=any_changed(*changed) if len(changed) > 1 else dropin.did_change)


def _file_text(path: str) -> str | None:
    """The text of a host file before this run (facts are read before any operation runs), or None."""
    lines = host.get_fact(FileContents, path=path)
    return None if lines is None else "".join(f"{line}\n" for line in lines)


#: How often, and how far apart, a fresh login is tried (sshd re-executes itself on SIGHUP).
LOGIN_ATTEMPTS = 5
LOGIN_INTERVAL = 1.0


def prove_login(state, host, previous_dropin: str | None, keys_file: str | None, previous_keys: str | None) -> None:
    """Open a fresh SSH login with the host's inventory settings; on failure restore the previous
    sshd drop-in (and authorized_keys) over the live connection, reload sshd and raise."""
    error = fresh_login_error(host)
    if error is None:
        return
    restore = [_restore_command(SSHD_DROPIN, previous_dropin, "644")]
    if keys_file and previous_keys is not None:
        restore.append(_restore_command(keys_file, previous_keys, "600", keep_owner=True))
    script = " && ".join(restore) + f" && {{ {SSHD_RELOAD}; }}"
    ok, output = host.run_shell_command(StringCommand("sh", "-c", shlex.quote(script)),
                                        _sudo=bool(host.data.get("_sudo")))
    after = fresh_login_error(host) if ok else "not tried"
    restored = "previous sshd drop-in" + (" and authorized_keys" if len(restore) > 1 else "")
    raise RuntimeError(
        f"mooring: a fresh SSH login failed after the sshd/keys change ({error}); "
        + (f"the {restored} restored and sshd reloaded; login now {'works' if after is None else 'still fails: ' + after}"
           if ok else f"restoring the {restored} FAILED: {output.stderr.strip()[:200]}; fix sshd on the host by hand")
        + " (fix: check bootstrap's sshd settings and bootstrap.authorized_keys against the inventory's ssh_user and key)")


def fresh_login_error(host) -> str | None:
    """None when a new SSH connection with ``host``'s inventory settings logs in and runs ``true``;
    else why not. Hosts not reached over SSH (``@local``, ``@docker``) have nothing to prove."""
    from paramiko import SSHException
    from pyinfra.connectors.ssh import SSHConnector
    from pyinfra.connectors.sshuserclient import SSHClient

    if not isinstance(host.connector, SSHConnector):
        return None
    kwargs = host.connector.make_paramiko_kwargs()
    hostname = kwargs.pop("hostname")
    error = "no attempt"
    for attempt in range(LOGIN_ATTEMPTS):
        if attempt:
            time.sleep(LOGIN_INTERVAL)
        client = SSHClient()
        try:
            client.connect(hostname, **kwargs)
            _stdin, stdout, _stderr = client.exec_command("true", timeout=30)
            status = stdout.channel.recv_exit_status()
            if status == 0:
                return None
            error = f"`true` exited {status}"
        except (SSHException, OSError, EOFError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        finally:
            client.close()
    return error


def _restore_command(path: str, text: str | None, mode: str, keep_owner: bool = False) -> str:
    """Shell that puts ``text`` back at ``path`` (via a temp file and ``mv``), or removes it when None."""
    q_path = shlex.quote(path)
    if text is None:
        return f"rm -f {q_path}"
    q_tmp = shlex.quote(f"{path}.mooring-restore")
    encoded = base64.b64encode(text.encode()).decode()
    owner = f" && chown --reference={q_path} {q_tmp}" if keep_owner else ""
    return (f"printf %s {encoded} | base64 -d > {q_tmp} && chmod {mode} {q_tmp}{owner} && mv -f {q_tmp} {q_path}")
