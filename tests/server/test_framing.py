"""The raw framer ahead of h11: boundaries, leading CRLF, limits and framing rules."""

from __future__ import annotations

from typing import Any

import pytest

from tornadoish.server.framing import (
    HTTP10_KEEP_ALIVE,
    HTTP10_KEEP_ALIVE_NO_HOST,
    PLAIN_HEAD,
    RequestFramer,
)


def framer(**limits: Any) -> RequestFramer:
    values: dict[str, Any] = {
        "limit_head_bytes": 4096,
        "limit_header_count": 20,
        "limit_uri_bytes": 256,
        "limit_body_bytes": 1000,
    }
    values.update(limits)
    return RequestFramer(**values)


STREAM = (
    b"\r\nGET /a HTTP/1.1\r\nHost: h\r\n\r\n"
    b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
    b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\n"
    b"\r\nGET /d HTTP/1.1\r\nHost: h\r\n\r\n"
)
# What h11 must see: the stream without the leading empty lines RFC 9112 §2.2 ignores.
EXPECTED = STREAM[2:].replace(b"T: 1\r\n\r\n\r\nGET /d", b"T: 1\r\n\r\nGET /d")


@pytest.mark.parametrize("step", [1, 2, 3, 7, 64, len(STREAM)])
def test_framer_passes_a_pipelined_stream_through_in_any_split(step: int) -> None:
    scanner = framer()
    out = b""
    for i in range(0, len(STREAM), step):
        accepted, error = scanner.feed(STREAM[i : i + step])
        assert error is None
        out += accepted
    assert out == EXPECTED
    assert not scanner.head_in_progress


def test_framer_ignores_only_one_leading_empty_line() -> None:
    accepted, error = framer().feed(b"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n")
    assert accepted == b""
    assert error is not None
    assert error.status == 400


def test_framer_hands_over_a_head_only_once_it_is_complete() -> None:
    scanner = framer()
    assert scanner.feed(b"GET / HTTP/1.1\r\nHo") == (b"", None)
    assert scanner.feed(b"st: h\r\n\r\n") == (b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", None)
    assert list(scanner.head_kinds) == [PLAIN_HEAD]


@pytest.mark.parametrize(
    ("raw", "handed", "kind"),
    [
        (
            b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
            b"GET / HTTP/1.1\r\nConnection: Keep-Alive\r\nHost: \r\n\r\n",
            HTTP10_KEEP_ALIVE_NO_HOST,
        ),
        (
            b"GET / HTTP/1.0\nHost: h\nConnection: keep-alive\n\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n",
            HTTP10_KEEP_ALIVE,
        ),
        (
            b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
            b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
            PLAIN_HEAD,
        ),
        (b"GET / HTTP/1.0\r\n\r\n", b"GET / HTTP/1.0\r\n\r\n", PLAIN_HEAD),
        (
            b"GET / HTTP/1.0\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n",
            b"GET / HTTP/1.0\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n",
            PLAIN_HEAD,
        ),
    ],
)
def test_framer_shows_h11_an_http10_keep_alive_head_as_http11(
    raw: bytes, handed: bytes, kind: int
) -> None:
    scanner = framer()
    assert scanner.feed(raw) == (handed, None)
    assert list(scanner.head_kinds) == [kind]


def test_framer_reports_a_head_in_progress_until_it_is_complete() -> None:
    scanner = framer()
    states = [scanner.head_in_progress]
    scanner.feed(b"GET / HT")
    states.append(scanner.head_in_progress)
    scanner.feed(b"TP/1.1\r\nHost: h\r\n\r\n")
    states.append(scanner.head_in_progress)
    assert states == [False, True, False]


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
        (b"GET / HTTP/1.10\r\nHost: h\r\n\r\n", 505),
        (b"GET /" + b"a" * 300 + b" HTTP/1.1\r\n\r\n", 414),
        (b"GET /" + b"a" * 400, 414),
        (b"GET / HTTP/1.1\r\n" + b"A: b\r\n" * 21 + b"\r\n", 431),
        (b"GET / HTTP/1.1\r\nA: " + b"b" * 5000, 431),
        (b"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked;q=1, gzip\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: \xd9\xa1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: 1001\r\n\r\n", 413),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;\ra\r\nabc\r\n", 400),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3x\r\nabc\r\n", 400),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;" + b"e" * 5000, 400),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3e9\r\n", 413),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: " + b"x" * 5000, 431),
    ],
    ids=lambda value: repr(value)[:60] if isinstance(value, bytes) else str(value),
)
def test_framer_rejects_what_h11_leaves_to_us(raw: bytes, status: int) -> None:
    accepted, error = framer().feed(raw)
    assert error is not None
    assert error.status == status
    assert len(accepted) < len(raw)


def test_framer_hands_over_good_bytes_before_an_error_and_nothing_after() -> None:
    scanner = framer()
    good = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"
    accepted, error = scanner.feed(good + b"GET / HTTP/3.0\r\n\r\n")
    assert accepted == good
    assert error is not None
    assert error.status == 505
    assert scanner.feed(good) == (b"", None)


def test_framer_without_a_body_limit_accepts_large_lengths() -> None:
    accepted, error = framer(limit_body_bytes=None).feed(
        b"POST / HTTP/1.1\r\nContent-Length: 10000000\r\n\r\n"
    )
    assert error is None
    assert accepted.endswith(b"\r\n\r\n")


UPGRADE = b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"


def test_framer_holds_bytes_after_an_upgrade_request_unexamined() -> None:
    scanner = framer()
    frame = b"\x81\x85\x00\x00\x00\x00hello"
    assert scanner.feed(UPGRADE + frame[:4]) == (UPGRADE, None)
    assert scanner.feed(frame[4:]) == (b"", None)
    assert scanner.holding
    assert scanner.take_held() == frame
    assert scanner.feed(b"GET / HTTP/1.1\r\n\r\n") == (b"", None)


def test_framer_resumes_scanning_when_the_upgrade_did_not_happen() -> None:
    scanner = framer()
    follow = b"GET /next HTTP/1.1\r\nHost: h\r\n\r\nGET /par"
    assert scanner.feed(UPGRADE + follow) == (UPGRADE, None)
    assert scanner.resume() == (follow[: follow.index(b"GET /par")], None)
    assert not scanner.holding
    assert scanner.head_in_progress
    assert scanner.resume() == (b"", None)
