"""Proxy headers are believed only from trusted proxies."""

from __future__ import annotations

import pytest

from tornadoish.httputil import HTTPHeaders
from tornadoish.proxies import TrustedProxies
from tornadoish.testing import app_client
from tornadoish.web import Application, RequestHandler

PROXIES = TrustedProxies(["10.0.0.0/8", "::1"])


@pytest.mark.parametrize(
    ("peer", "headers", "expected"),
    [
        ("10.1.2.3", {"X-Forwarded-For": "203.0.113.9"}, ("203.0.113.9", None)),
        ("10.1.2.3", {"X-Forwarded-For": "1.1.1.1, 203.0.113.9, 10.0.0.2"}, ("203.0.113.9", None)),
        ("10.1.2.3", {"X-Real-Ip": "198.51.100.7"}, ("198.51.100.7", None)),
        ("10.1.2.3", {"X-Forwarded-Proto": "https"}, ("10.1.2.3", "https")),
        ("10.1.2.3", {"X-Scheme": "HTTPS"}, ("10.1.2.3", "https")),
        ("10.1.2.3", {"X-Forwarded-Proto": "gopher"}, ("10.1.2.3", None)),
        ("10.1.2.3", {"X-Forwarded-For": "not-an-ip"}, ("10.1.2.3", None)),
        ("::1", {"X-Forwarded-For": "2001:db8::5"}, ("2001:db8::5", None)),
        # Untrusted peers: headers ignored, whatever they claim.
        ("203.0.113.50", {"X-Forwarded-For": "1.2.3.4"}, ("203.0.113.50", None)),
        ("203.0.113.50", {"X-Forwarded-Proto": "https"}, ("203.0.113.50", None)),
        (None, {"X-Real-Ip": "1.2.3.4"}, (None, None)),
    ],
)
def test_resolve_reads_headers_only_from_trusted_peers(
    peer: str | None, headers: dict[str, str], expected: tuple[str | None, str | None]
) -> None:
    assert PROXIES.resolve(peer, HTTPHeaders(headers)) == expected


def test_invalid_trusted_proxy_is_refused() -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        TrustedProxies(["proxy.example"])


class WhoHandler(RequestHandler):
    def get(self) -> None:
        self.write({"ip": self.request.remote_ip, "protocol": self.request.protocol})


@pytest.mark.anyio
async def test_application_uses_trusted_proxy_headers() -> None:
    app = Application([("/", WhoHandler)], trusted_proxies=["127.0.0.1"])
    async with app_client(app) as client:
        response = await client.get(
            "/", headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
        )
    assert response.json() == {"ip": "203.0.113.9", "protocol": "https"}


@pytest.mark.anyio
async def test_application_ignores_proxy_headers_by_default() -> None:
    async with app_client(Application([("/", WhoHandler)])) as client:
        response = await client.get("/", headers={"X-Forwarded-For": "203.0.113.9"})
    assert response.json() == {"ip": "127.0.0.1", "protocol": "http"}
