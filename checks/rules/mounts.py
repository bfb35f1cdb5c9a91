"""Rules on bind mounts: read-only sources declared, consistent, and never the stack folder or a system path."""

from __future__ import annotations

import posixpath

from mooring.checks.findings import Finding, Outcome
from mooring.checks.registry import RuleContext, rule
from mooring.declare.model import HostModel, Service, Stack
from mooring.declare.paths import TEMPLATES


@rule("mounts.read_only_sources")
def mounts_read_only_sources(ctx: RuleContext, name: str) -> list[Finding]:
    """Read-only bind mount sources declare owner and mode (the container cannot chmod them: seed 003).

    Host-owned paths (system folders, the docker socket, backup folders: see
    :func:`_protected_source`) are exempt: mooring never manages them, the host's own
    permissions stay.
    """
    found = []
    for service in ctx.stack.services.values():
        for mount in service.volumes:
            if mount.type == "bind" and mount.read_only and not _host_owned(mount.source, ctx.stack, ctx.model):
                lacking = [k for k in ("owner", "mode") if getattr(mount, k) is None]
                if lacking:
                    found.append(ctx.finding(name, Outcome.FAILED, mount.path,
                                             f"read-only mount {mount.source} declares no {' and no '.join(lacking)}",
                                             'set them on the host side, e.g. owner: root, group: root, mode: "0644"'))
    return found


@rule("mounts.consistent")
def mounts_consistent(ctx: RuleContext, name: str) -> list[Finding]:
    """Mount targets are unique per service, templates exist, no mount exposes .env or mooring's own files, none takes over a system path.

    Sources are compared normalised. A bind mount of the stack folder (or a folder holding it),
    of ``.env``, ``compose.yml``, ``bin/``, ``releases/`` or a hidden entry of the stack folder,
    or of another folder under ``bootstrap.base_dir`` is refused; a system path, the docker
    socket or a backup folder is refused as a *managed* source (owner, group, mode or template
    declared: the deploy would chown/chmod or overwrite it).
    """
    stack = ctx.stack
    found = []
    rendered_at: dict[str, str] = {}
    owned_as: dict[str, tuple[tuple, str]] = {}  # host path -> (owner, group, mode), which mount said so
    for service in stack.services.values():
        targets: set[str] = set()
        for mount in service.volumes:
            if mount.target in targets:
                found.append(ctx.finding(name, Outcome.FAILED, f"{mount.path}.target",
                                         f"{mount.target} is mounted twice in {service.name}", "mount each target once"))
            targets.add(mount.target)
            if mount.template and mount.type == "volume":
                found.append(ctx.finding(name, Outcome.FAILED, f"{mount.path}.template",
                                         f"a template cannot be rendered into named volume {mount.source!r}",
                                         "use an absolute host path or ${STACK_DIR}/... as source"))
            elif mount.template and not (TEMPLATES / mount.template).is_file():
                found.append(ctx.finding(name, Outcome.FAILED, f"{mount.path}.template", f"template {mount.template} does not exist",
                                         "create it under templates/ or fix the name"))
            elif mount.template:
                previous = rendered_at.setdefault(mount.rendered_path, mount.template)
                if previous != mount.template:
                    found.append(ctx.finding(name, Outcome.FAILED, f"{mount.path}.template",
                                             f"{mount.rendered_path} would be rendered from both {previous} and {mount.template}",
                                             "use one template per host path"))
            if mount.type == "bind":
                found.extend(_guard_source(ctx, name, service, mount))
                found.extend(_same_ownership(ctx, name, mount, owned_as))
    return found


def _same_ownership(ctx: RuleContext, name: str, mount, owned_as: dict[str, tuple[tuple, str]]) -> list[Finding]:
    """A host path mounted twice is declared with one owner, group and mode (the deploy would
    otherwise chown and chmod it back and forth, and never converge)."""
    declared = (mount.owner, mount.group, mount.mode)
    if not any(declared):
        return []
    earlier = owned_as.setdefault(mount.source, (declared, mount.path))
    if earlier[0] == declared:
        return []
    shown = lambda o: "/".join(str(part or "-") for part in o)  # noqa: E731
    return [ctx.finding(name, Outcome.FAILED, f"{mount.path}.source",
                        f"{mount.source} is declared {shown(earlier[0])} (owner/group/mode) at {earlier[1]} and "
                        f"{shown(declared)} here: the deploy would change it back and forth",
                        "declare the same owner, group and mode on every mount of it (or on one only)")]


#: Host paths that are never a managed mount source (owner/group/mode would chown/chmod them,
#: a template would overwrite them).
SYSTEM_PATHS = frozenset({
    "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/media", "/mnt", "/opt",
    "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/usr/local", "/var", "/var/backups",
    "/var/cache", "/var/lib", "/var/lib/docker", "/var/log", "/var/mail", "/var/run", "/var/spool", "/var/tmp",
})


#: Folders nothing below which is managed (the longest match is named in the message).
SYSTEM_TREES = ("/bin", "/boot", "/dev", "/etc/apt", "/etc/cron.d", "/etc/default", "/etc/docker", "/etc/init.d",
                "/etc/pam.d", "/etc/security", "/etc/ssh", "/etc/ssl/private", "/etc/sudoers.d", "/etc/systemd",
                "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/root", "/run", "/sbin", "/sys", "/usr",
                "/var/lib/apt", "/var/lib/docker", "/var/lib/dpkg", "/var/run", "/var/spool/cron")


#: Folders whose direct entries are the system's (/etc/passwd, /etc/ssl, a user's home).
SYSTEM_PARENTS = ("/etc", "/home")
DOCKER_SOCKETS = frozenset({"/var/run/docker.sock", "/run/docker.sock"})


#: Entries of the stack folder that mooring writes itself (never a mount: a container could read
#: the secrets or rewrite what root runs). Hidden names (.env, .mooring-*) count too.
STACK_OWN = {"compose.yml": "the compose file", "bin": "the backup scripts folder (cron runs them as root)",
             "releases": "the release history"}


def _inside(path: str, folder: str) -> bool:
    """True when ``path`` is strictly below ``folder`` (both normalised).

    >>> _inside("/etc/ssh/sshd_config.d", "/etc/ssh"), _inside("/etc/sshx", "/etc/ssh"), _inside("/x", "/")
    (True, False, True)
    """
    return path != folder and path.startswith(folder.rstrip("/") + "/")


def _system_reason(source: str) -> str:
    """Why ``source`` is a system path ("" when it is not)."""
    if source in DOCKER_SOCKETS:
        return f"{source} is the docker socket (root on the host)"
    if source in SYSTEM_PATHS:
        return f"{source} is a system path"
    trees = [tree for tree in SYSTEM_TREES if _inside(source, tree)]
    if trees:
        return f"{source} is inside {max(trees, key=len)}, a system path"
    if "/.ssh/" in source + "/":
        return f"{source} holds SSH keys (a .ssh folder)"
    parent = posixpath.dirname(source)
    if parent in SYSTEM_PARENTS:
        return f"{source} is inside {parent}, a system path"
    return ""


def _protected_source(source: str, stack: Stack, model: HostModel) -> str:
    """Why mooring must never manage (chown, chmod, render into) ``source``; "" when it may."""
    reason = _system_reason(source)
    if reason:
        return reason
    backups, backup_root = stack.backups.directory, model.bootstrap.backup_dir
    if source == backups:
        return f"{source} is the stack's backup folder (root-only, 0700: every database dump)"
    if _inside(source, backups):
        return f"{source} is inside the stack's backup folder {backups}"
    if source == backup_root:
        return f"{source} is bootstrap.backup_dir (every stack's database dumps)"
    if _inside(source, backup_root):
        return f"{source} is inside bootstrap.backup_dir {backup_root}"
    if _inside(backups, source):
        return f"{source} holds the stack's backup folder {backups}"
    return ""


def _host_owned(source: str, stack: Stack, model: HostModel) -> bool:
    """True for host paths mooring never manages (their permissions are the host's)."""
    return bool(_protected_source(source, stack, model))


def _managed(mount) -> bool:
    """True when the deploy would create, chown/chmod or render into the mount's source."""
    return bool(mount.owner or mount.group or mount.mode or mount.template)


def _exposure(source: str, stack: Stack, model: HostModel) -> str:
    """Why a bind mount of ``source`` (managed or not) would hand secrets or mooring's own files
    to a container; "" when it does not."""
    if source == stack.dir or _inside(stack.dir, source):
        return f"mounting {source} exposes {stack.env_file} (every secret)"
    if _inside(source, stack.dir):
        first = source[len(stack.dir) + 1:].split("/")[0]
        if first == ".env":
            return f"mounting {source} exposes {stack.env_file} (every secret)"
        if first in STACK_OWN:
            return f"{stack.dir}/{first} is mooring's own ({STACK_OWN[first]})"
        if first.startswith("."):
            return f"{stack.dir}/{first} is mooring's own (hidden files in the stack folder)"
        return ""
    base = model.bootstrap.base_dir
    if _inside(source, base):
        return f"{source} is under bootstrap.base_dir {base} but outside this stack's folder (another stack's .env)"
    return ""


def _guard_source(ctx: RuleContext, name: str, service: Service, mount) -> list[Finding]:
    """The mount guard for one bind mount: no exposure of .env or mooring's files; no managed
    system path, docker socket or backup folder; a warning for the docker socket at all."""
    path = f"{mount.path}.source"
    exposed = _exposure(mount.source, ctx.stack, ctx.model)
    if exposed:
        return [ctx.finding(name, Outcome.FAILED, path, f"{exposed}: refused for {service.name}",
                            "mount a dedicated subfolder, e.g. ${STACK_DIR}/nginx/conf.d")]
    protected = _protected_source(mount.source, ctx.stack, ctx.model)
    if protected and _managed(mount):
        declared = ", ".join(k for k in ("owner", "group", "mode", "template") if getattr(mount, k))
        return [ctx.finding(name, Outcome.FAILED, path,
                            f"{protected}: with {declared} declared the deploy would take it over (chown/chmod/overwrite)",
                            "mount a dedicated folder (e.g. ${STACK_DIR}/data), or remove owner, group, mode and "
                            "template so that the host's own permissions stay")]
    if mount.source in DOCKER_SOCKETS:  # `:ro` does not narrow a socket's API
        return [ctx.finding(name, Outcome.WARNING, path,
                            f"{service.name} gets the docker socket {mount.source} (read-only or not): whoever controls "
                            "it is root on the host",
                            "mount it only into a trusted service, or use a socket proxy with a narrow API")]
    return []
