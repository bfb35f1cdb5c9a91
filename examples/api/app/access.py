"""Who may call the internal dev/ops endpoints: an on/off switch plus a CIDR whitelist.

A disabled family answers 404 (indistinguishable from an unknown route); an enabled family
answers 403 to clients outside its whitelist. An empty whitelist admits nobody.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Union

from app.errors import SettingsError

Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


@dataclass(frozen=True)
class EndpointGate:
    """The switch and whitelist of one family of endpoints (``dev`` or ``ops``)."""

    name: str
    enabled: bool
    whitelist: tuple[Network, ...]

    def decide(self, client: Address | None) -> int | None:
        """None to let the request through, else the HTTP status to answer (404 or 403).

        >>> EndpointGate("dev", True, parse_networks("W", "10.0.0.0/8")).decide(ipaddress.ip_address("10.1.2.3"))
        >>> EndpointGate("dev", False, ()).decide(ipaddress.ip_address("10.1.2.3"))
        404
        """
        if not self.enabled:
            return 404
        if client is None or not in_networks(client, self.whitelist):
            return 403
        return None


def parse_networks(variable: str, value: str) -> tuple[Network, ...]:
    """Comma-separated CIDRs (or bare addresses) from ``variable``; a bad entry is an error.

    >>> parse_networks("W", "127.0.0.1, 10.0.0.0/8")
    (IPv4Network('127.0.0.1/32'), IPv4Network('10.0.0.0/8'))
    """
    networks = []
    for index, item in enumerate(part.strip() for part in value.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise SettingsError(f"{variable}: entry {index + 1} is not an IP address or CIDR "
                                "(use e.g. 10.0.0.0/8,127.0.0.1/32)") from None
    return tuple(networks)


def normalise(address: str) -> Address | None:
    """An address from a socket or header; IPv4-mapped IPv6 becomes IPv4; junk becomes None."""
    try:
        parsed = ipaddress.ip_address(address.strip().split("%")[0])
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped:
        return parsed.ipv4_mapped
    return parsed


def in_networks(address: Address, networks: tuple[Network, ...]) -> bool:
    """True when ``address`` falls into one of ``networks``."""
    return any(address.version == net.version and address in net for net in networks)


def client_address(peer: str, forwarded_for: str | None, trusted: tuple[Network, ...]) -> Address | None:
    """The real client: the socket peer, or, when the peer is a trusted proxy, the right-most
    address of ``X-Forwarded-For`` that is not itself a trusted proxy (the left-most when all
    are trusted). A malformed hop makes the client unknown (None: no whitelist admits it).

    >>> str(client_address("172.18.0.5", "203.0.113.9, 172.18.0.4", parse_networks("T", "172.18.0.0/16")))
    '203.0.113.9'
    >>> str(client_address("172.18.0.5", "203.0.113.9", ()))
    '172.18.0.5'
    >>> str(client_address("172.18.0.5", "172.18.0.1", parse_networks("T", "172.16.0.0/12")))
    '172.18.0.1'
    """
    address = normalise(peer)
    if address is None or not forwarded_for or not in_networks(address, trusted):
        return address
    hop_address = address
    for hop in reversed(forwarded_for.split(",")):
        hop_address = normalise(hop)
        if hop_address is None:
            return None
        if not in_networks(hop_address, trusted):
            return hop_address
    return hop_address
