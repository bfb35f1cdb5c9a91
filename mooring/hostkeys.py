"""First contact with a new box: its SSH host key, read once with ``ssh-keyscan``, recorded in the
inventory's known_hosts file only after the operator confirmed its fingerprint (given with
``--fingerprint HOST=SHA256:...`` or typed ``yes`` on a terminal). Every later connection
(pyinfra's, with strict host-key checking) then verifies against it: no key is ever trusted on
first use unseen.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

#: Key types asked for, the strongest first.
KEY_TYPES = "ed25519,ecdsa,rsa"
#: Key type prefixes in the order keys are shown and recorded (ssh-keyscan prints them as they arrive).
STRENGTH = ("ssh-ed25519", "ecdsa-sha2-", "ssh-rsa")


@dataclass(frozen=True)
class HostKey:
    """One key a host offered: the known_hosts line and its SHA256 fingerprint."""

    host: str
    line: str
    fingerprint: str

    @property
    def kind(self) -> str:
        """The key type, e.g. ``ssh-ed25519``."""
        return self.line.split()[1]

    def strength(self) -> int:
        """0 for the strongest type (:data:`STRENGTH`), higher for weaker or unknown ones."""
        return next((rank for rank, prefix in enumerate(STRENGTH) if self.kind.startswith(prefix)), len(STRENGTH))


def endpoint(data: dict[str, Any], name: str) -> tuple[str, int]:
    """Where pyinfra connects to the host: (``ssh_hostname`` or its name, ``ssh_port`` or 22)."""
    return str(data.get("ssh_hostname") or name), int(data.get("ssh_port") or 22)


def known_hosts_file(data: dict[str, Any]) -> Path | None:
    """The host's ``ssh_known_hosts_file`` (``~`` expanded), or None when it names none."""
    value = data.get("ssh_known_hosts_file")
    return Path(os.path.expanduser(str(value))) if value else None


def is_known(data: dict[str, Any], name: str) -> bool:
    """Whether the host's known_hosts file already holds a key for where pyinfra connects."""
    path = known_hosts_file(data)
    if path is None or not path.exists():
        return False
    address, port = endpoint(data, name)
    lookup = address if port == 22 else f"[{address}]:{port}"
    found = subprocess.run(["ssh-keygen", "-F", lookup, "-f", str(path)], capture_output=True, text=True,
                           timeout=30, stdin=subprocess.DEVNULL)
    return found.returncode == 0 and bool(found.stdout.strip())


def scan(data: dict[str, Any], name: str, timeout: int = 5) -> list[HostKey]:
    """The keys the host offers (``ssh-keyscan``), each with its fingerprint, the strongest first;
    [] when it does not answer."""
    address, port = endpoint(data, name)
    found = subprocess.run(["ssh-keyscan", "-T", str(timeout), "-p", str(port), "-t", KEY_TYPES, address],
                           capture_output=True, text=True, timeout=timeout * 4 + 10, stdin=subprocess.DEVNULL)
    keys = []
    for line in found.stdout.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        printed = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", "-"], input=line + "\n",
                                 capture_output=True, text=True, timeout=30)
        parts = printed.stdout.split()
        if printed.returncode == 0 and len(parts) >= 2:
            keys.append(HostKey(name, line.strip(), parts[1]))
    return sorted(keys, key=HostKey.strength)


def _rsa_alone(key: HostKey, offered: list[HostKey]) -> str | None:
    """Why ``key`` cannot be recorded alone, or None. paramiko (pyinfra's SSH) offers the recorded
    key's type first; for an RSA key that is SHA-1 ``ssh-rsa``, which OpenSSH >= 8.8 refuses, so a
    stronger type is negotiated and compared with the RSA key: every login fails as "changed"."""
    if key.kind != "ssh-rsa" or offered[0].kind == "ssh-rsa":
        return None
    return (f"{key.fingerprint} is its RSA key, which pyinfra's SSH library cannot verify against a host that "
            f"also offers {offered[0].kind}: confirm its {offered[0].kind} fingerprint from your provider's "
            "console instead: nothing recorded")


def record(path: Path, keys: list[HostKey]) -> None:
    """Append ``keys`` to the known_hosts file ``path`` (made 0600 in a 0700 folder when new)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "a", encoding="ascii") as handle:
        handle.writelines(f"{key.line}\n" for key in keys)


def first_contact(hosts: list, confirmed: dict[str, str], ask: Callable[[str], str] | None) -> dict[str, str]:
    """Record the host key of every host in ``hosts`` (``InventoryHost``) whose known_hosts file
    does not know it yet, once its fingerprint is confirmed: equal to ``confirmed[host]``, or
    answered ``yes`` to ``ask`` (a terminal). Returns host → why not (nothing is recorded for such
    a host): no known_hosts file named, an unconfirmed or mismatching fingerprint. A host that
    does not answer is left to the run, which names it unreachable."""
    problems: dict[str, str] = {}
    for host in hosts:
        if host.data.get("ssh_strict_host_key_checking") != "yes" or is_known(host.data, host.name):
            continue  # weaker settings are refused (or the documented opt-out runs) before connecting
        path = known_hosts_file(host.data)
        if path is None:
            problems[host.name] = "no ssh_known_hosts_file in its inventory data to record its key in"
            continue
        keys = scan(host.data, host.name)
        if not keys:
            continue
        shown = ", ".join(f"{k.kind} {k.fingerprint}" for k in keys)
        want = confirmed.get(host.name)
        if want is not None:
            matching = [k for k in keys if k.fingerprint == want]
            if not matching:
                problems[host.name] = (f"offers {shown}, not {want}: nothing recorded (a wrong host, or a man in "
                                       "the middle; check with your provider's console)")
                continue
            refused = _rsa_alone(matching[0], keys)
            if refused:
                problems[host.name] = refused
                continue
            record(path, matching)
            continue
        if ask is None:
            problems[host.name] = (f"new: it offers {shown}. Compare with the fingerprint your provider's console "
                                   f"shows, then run again with --fingerprint {host.name}={keys[0].fingerprint}")
            continue
        if ask(f"{host.name} offers {shown}. Does {keys[0].fingerprint} match your provider's console? "
               "Type 'yes' to trust it: ").strip() != "yes":
            problems[host.name] = "fingerprint not confirmed: nothing recorded"
            continue
        record(path, keys[:1])
    return problems
