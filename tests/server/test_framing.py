"""The request parser: heads, body pieces, boundaries, limits and framing rules."""

from __future__ import annotations

from typing import Any

import pytest

from tornadoish.server.framing import END_OF_MESSAGE, Event, RequestParser
from tornadoish.server.parsing import RequestHead, RequestRejected


def parser(**limits: Any) -> RequestParser:
    values: dict[str, Any] = {
        "limit_head_bytes": 4096,
        "limit_header_count": 20,
        "limit_uri_bytes": 256,
        "limit_body_bytes": 1000,
    }
    values.update(limits)
    return RequestParser(**values)


def drain(reader: RequestParser) -> list[Event]:
    events = list(reader.events)
    reader.events.clear()
    return events


def drain_answering(reader: RequestParser) -> list[Event]:
    """Events as the connection takes them: after each request, ``resume()`` (its
    response done) lets the parser go on to the next."""
    events: list[Event] = []
    while reader.events:
        events += drain(reader)
        if events[-1] is END_OF_MESSAGE:
            reader.resume()
    return events


def merged(events: list[Event]) -> list[Event]:
    """Adjacent body pieces joined: how a stream splits them is not the parser's contract."""
    out: list[Event] = []
    for event in events:
        if isinstance(event, bytes) and out and isinstance(out[-1], bytes):
            out[-1] += event
        else:
            out.append(event)
    return out


def head(method: bytes, target: bytes, *headers: tuple[bytes, bytes], **kw: Any) -> RequestHead:
    return RequestHead(method, target, kw.pop("version", b"1.1"), list(headers), **kw)


STREAM = (
    b"\r\nGET /a HTTP/1.1\r\nHost: h\r\n\r\n"
    b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
    b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;x=y\r\nhello\r\n2\r\n, \r\n0\r\nT: 1\r\n\r\n"
    b"\r\nGET /d?q HTTP/1.1\r\nhost:h\r\nX-Odd:  a \t b \r\n\r\n"
)
EXPECTED: list[Event] = [
    head(b"GET", b"/a", (b"host", b"h")),
    END_OF_MESSAGE,
    head(b"POST", b"/b", (b"host", b"h"), (b"content-length", b"5")),
    b"hello",
    END_OF_MESSAGE,
    head(b"POST", b"/c", (b"host", b"h"), (b"transfer-encoding", b"chunked")),
    b"hello, ",
    END_OF_MESSAGE,
    head(b"GET", b"/d?q", (b"host", b"h"), (b"x-odd", b"a \t b")),
    END_OF_MESSAGE,
]


@pytest.mark.parametrize("step", [1, 2, 3, 7, 64, len(STREAM)])
def test_parser_turns_a_pipelined_stream_into_events_in_any_split(step: int) -> None:
    reader = parser()
    events: list[Event] = []
    for i in range(0, len(STREAM), step):
        reader.feed(STREAM[i : i + step])
        events += drain_answering(reader)
    assert merged(events) == EXPECTED
    assert not reader.head_in_progress
    assert not reader.failed


def test_parser_ignores_only_one_leading_empty_line() -> None:
    reader = parser()
    reader.feed(b"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n")
    [error] = drain(reader)
    assert isinstance(error, RequestRejected)
    assert error.status == 400
    assert reader.failed


def test_parser_queues_a_head_only_once_it_is_complete() -> None:
    reader = parser()
    reader.feed(b"GET / HTTP/1.1\r\nHo")
    assert drain(reader) == []
    reader.feed(b"st: h\r\n\r\n")
    assert drain(reader) == [head(b"GET", b"/", (b"host", b"h")), END_OF_MESSAGE]


@pytest.mark.parametrize(
    ("raw", "keep_alive", "version"),
    [
        (b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", True, b"1.1"),
        (b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\n", False, b"1.1"),
        (b"GET / HTTP/1.1\r\nHost: h\r\nConnection: x, close\r\n\r\n", False, b"1.1"),
        (b"GET / HTTP/1.2\r\nHost: h\r\n\r\n", True, b"1.1"),
        (b"GET / HTTP/1.0\r\n\r\n", False, b"1.0"),
        (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", True, b"1.0"),
        (b"GET / HTTP/1.0\nHost: h\nConnection: keep-alive\n\n", True, b"1.0"),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", False, b"1.0"),
        (b"GET / HTTP/1.0\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n", False, b"1.0"),
    ],
)
def test_parser_reads_whether_the_client_keeps_the_connection(
    raw: bytes, keep_alive: bool, version: bytes
) -> None:
    reader = parser()
    reader.feed(raw + raw)
    first = drain(reader)[0]
    assert isinstance(first, RequestHead)
    assert (first.keep_alive, first.http_version) == (keep_alive, version)
    # After a request that closes the connection nothing more is parsed.
    assert reader.stopped is not keep_alive


def test_parser_flags_expect_continue_and_upgrade() -> None:
    reader = parser()
    reader.feed(b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n")
    first = drain(reader)[0]
    assert isinstance(first, RequestHead)
    assert first.expect_continue
    assert not first.upgrade


def test_parser_reports_a_head_in_progress_until_it_is_complete() -> None:
    reader = parser()
    states = [reader.head_in_progress]
    reader.feed(b"GET / HT")
    states.append(reader.head_in_progress)
    reader.feed(b"TP/1.1\r\nHost: h\r\n\r\n")
    states.append(reader.head_in_progress)
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
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX : y\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x0bb\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400),
        (b"GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked;q=1, gzip\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1e3\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \xd9\xa1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n", 413),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;\ra\r\nabc\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3x\r\nabc\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;" + b"e" * 5000, 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3e9\r\n", 413),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT " + b"\r\n", 400),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: "
            + b"x" * 5000,
            431,
        ),
    ],
    ids=lambda value: repr(value)[:60] if isinstance(value, bytes) else str(value),
)
def test_parser_rejects_a_broken_request_with_the_status_to_answer(raw: bytes, status: int) -> None:
    reader = parser()
    reader.feed(raw)
    error = drain(reader)[-1]
    assert isinstance(error, RequestRejected)
    assert error.status == status
    assert reader.failed
    assert reader.stopped


def test_parser_holds_a_pipelined_request_until_the_one_before_is_answered() -> None:
    reader = parser()
    good = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"
    reader.feed(good + b"GET / HTTP/3.0\r\n\r\n")
    assert drain(reader) == [head(b"GET", b"/", (b"host", b"h")), END_OF_MESSAGE]
    assert not reader.failed  # the bad request is not even looked at yet
    reader.resume()
    [error] = drain(reader)
    assert isinstance(error, RequestRejected)
    assert error.status == 505
    reader.feed(good)
    reader.resume()
    assert drain(reader) == []


def test_parser_drops_what_follows_a_request_that_closes_the_connection() -> None:
    reader = parser()
    reader.feed(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGARBAGE\r\n\r\n")
    events = drain(reader)
    assert events[1:] == [END_OF_MESSAGE]
    reader.resume()
    assert drain(reader) == []
    assert reader.stopped
    assert not reader.failed


def test_parser_without_a_body_limit_accepts_large_lengths() -> None:
    reader = parser(limit_body_bytes=None)
    reader.feed(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10000000\r\n\r\nab")
    assert drain(reader)[1:] == [b"ab"]
    assert not reader.failed


UPGRADE = b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
UPGRADE_HEAD = head(
    b"GET",
    b"/ws",
    (b"host", b"h"),
    (b"upgrade", b"websocket"),
    (b"connection", b"Upgrade"),
    upgrade=True,
)


def test_parser_holds_bytes_after_an_upgrade_request_unexamined() -> None:
    reader = parser()
    frame = b"\x81\x85\x00\x00\x00\x00hello"
    reader.feed(UPGRADE + frame[:4])
    assert drain(reader) == [UPGRADE_HEAD, END_OF_MESSAGE]
    reader.feed(frame[4:])
    assert drain(reader) == []
    assert reader.holding
    assert reader.take_held() == frame
    reader.feed(b"GET / HTTP/1.1\r\n\r\n")
    assert drain(reader) == []


def test_parser_resumes_when_the_upgrade_did_not_happen() -> None:
    reader = parser()
    reader.feed(UPGRADE + b"GET /next HTTP/1.1\r\nHost: h\r\n\r\nGET /par")
    assert drain(reader) == [UPGRADE_HEAD, END_OF_MESSAGE]
    reader.resume()
    assert drain(reader) == [head(b"GET", b"/next", (b"host", b"h")), END_OF_MESSAGE]
    assert not reader.holding
    reader.resume()  # /next answered: on to the partial head behind it
    assert drain(reader) == []
    assert reader.head_in_progress
