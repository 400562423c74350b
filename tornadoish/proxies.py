"""Trusting reverse-proxy headers for the client address and scheme (layer: pure).

Headers such as X-Forwarded-For are trivially forged by clients, so they are read
only when the direct peer is one of the configured trusted proxies (the
``trusted_proxies`` setting: addresses or networks such as ``10.0.0.0/8``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from tornadoish.httputil import HTTPHeaders

__all__ = ["TrustedProxies"]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class TrustedProxies:
    """A set of proxy networks and the rule for reading their headers."""

    __slots__ = ("_networks",)

    def __init__(self, proxies: Iterable[str]) -> None:
        networks: list[_Network] = []
        for proxy in proxies:
            try:
                networks.append(ipaddress.ip_network(proxy.strip(), strict=False))
            except ValueError:
                raise ValueError(f"trusted proxy {proxy!r} is not an IP address or network")
        self._networks = tuple(networks)

    def __bool__(self) -> bool:
        return bool(self._networks)

    def trusts(self, address: str | None) -> bool:
        """True when ``address`` (a peer IP) is one of the trusted proxies."""
        ip = _parse_ip(address)
        return ip is not None and self._trusts_ip(ip)

    def _trusts_ip(self, ip: _Address) -> bool:
        return any(ip in network for network in self._networks)

    def resolve(self, peer: str | None, headers: HTTPHeaders) -> tuple[str | None, str | None]:
        """``(client ip, protocol or None)`` as the trusted proxy chain reports them.

        X-Forwarded-For is read right to left, skipping trusted proxies: the first
        untrusted address is the client (anything left of it may be forged).
        """
        if not self.trusts(peer):
            return peer, None
        client = peer
        forwarded_for = headers.get("X-Forwarded-For")
        if forwarded_for:
            for hop in reversed([part.strip() for part in forwarded_for.split(",")]):
                ip = _parse_ip(hop)
                if ip is None:
                    break
                client = hop
                if not self._trusts_ip(ip):
                    break
        # Tornado's precedence (nginx setups commonly send both headers): X-Real-Ip
        # over X-Forwarded-For, X-Scheme over X-Forwarded-Proto.
        real_ip = headers.get("X-Real-Ip", "").strip()
        if _parse_ip(real_ip) is not None:
            client = real_ip
        proto = headers.get("X-Scheme") or headers.get("X-Forwarded-Proto") or ""
        proto = proto.split(",")[-1].strip().lower()
        return client, proto if proto in ("http", "https") else None


def _parse_ip(value: str | None) -> _Address | None:
    """``value`` as an IP address; None when it is empty or not one."""
    if not value:
        return None
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None
