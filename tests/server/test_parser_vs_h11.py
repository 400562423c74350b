"""The request parser against h11 (the parser the server used before): random heads,
mutated byte by byte, must be refused whenever h11 refuses them, accepted when h11
accepts them (but for obs-fold, which we refuse on purpose) and then parsed the same."""

from __future__ import annotations

import random

import h11
import pytest

from tornadoish.server.framing import END_OF_MESSAGE, RequestParser
from tornadoish.server.parsing import RequestHead, RequestRejected

SEEDS = range(8)
CASES_PER_SEED = 400

BASES = [
    b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
    b"GET /a/b?c=d&e=%20 HTTP/1.1\r\nHost: h:8080\r\nAccept: */*\r\nX-Empty:\r\n\r\n",
    b"POST /form HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: h\r\nUser-Agent: t/1 (x; y)\r\n\r\n",
    b"GET http://h/p HTTP/1.1\r\nHost: h\r\nCookie: a=b; c=d\r\n\r\n",
    b"HEAD /x HTTP/1.0\r\nConnection: close\r\n\r\n",
    b"DELETE /x HTTP/1.1\nHost: h\nX-Tab:\tv\t\n\n",
]
# Bytes that matter to HTTP syntax, and a few that never should appear.
ALPHABET = b' \t\r\n:;,/?=\x00\x01\x0b\x0c\x7f\x80\xffAa0-_"()'


def mutate(rng: random.Random, raw: bytes) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.randint(1, 3)):
        end = data.rindex(b"\n")  # keep the blank line that ends the head
        pos = rng.randrange(0, max(1, end - 1))
        action = rng.random()
        if action < 0.4:
            data[pos : pos + 1] = bytes([rng.choice(ALPHABET)])
        elif action < 0.7:
            data[pos:pos] = bytes([rng.choice(ALPHABET)])
        else:
            del data[pos]
    return bytes(data)


def h11_verdict(raw: bytes) -> h11.Request | str | None:
    """h11's Request, None if it refuses the head, "incomplete" if it wants more bytes."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(raw)
    try:
        event = conn.next_event()
    except h11.RemoteProtocolError:
        return None
    if event is h11.NEED_DATA:
        return "incomplete"
    assert isinstance(event, h11.Request)
    return event


def our_verdict(raw: bytes) -> RequestHead | str | None:
    parser = RequestParser(
        limit_head_bytes=65536,
        limit_header_count=100,
        limit_uri_bytes=8192,
        limit_body_bytes=None,
    )
    parser.feed(raw)
    events = list(parser.events)
    if not events:
        return "incomplete"
    first = events[0]
    if isinstance(first, RequestRejected):
        return None
    assert isinstance(first, RequestHead)
    assert not events[1:] or events[1] is END_OF_MESSAGE or isinstance(events[1], bytes)
    return first


@pytest.mark.parametrize("seed", SEEDS)
def test_mutated_heads_are_refused_when_h11_refuses_them_and_parse_alike(seed: int) -> None:
    rng = random.Random(seed)
    agreed = 0
    for _ in range(CASES_PER_SEED):
        raw = mutate(rng, rng.choice(BASES))
        theirs = h11_verdict(raw)
        ours = our_verdict(raw)
        if theirs is None:
            assert ours is None, f"h11 refuses, we accept: {raw!r}"
        elif isinstance(theirs, h11.Request) and ours is None:
            # Our one deliberate refusal of what h11 takes: obs-fold (RFC 9112 §5.2).
            assert any(line[:1] in (b" ", b"\t") for line in raw.split(b"\n")[1:]), raw
        elif isinstance(theirs, h11.Request) and isinstance(ours, RequestHead):
            assert ours.method == theirs.method, raw
            assert ours.target == theirs.target, raw
            assert ours.headers == list(theirs.headers), raw
            agreed += 1
    # The mutations must leave enough valid requests to compare parses.
    assert agreed > CASES_PER_SEED // 10
