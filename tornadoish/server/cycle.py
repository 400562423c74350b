"""One HTTP request/response exchange: the ASGI ``receive``/``send`` pair (layer: server).

A :class:`RequestCycle` is created by the connection protocol for each request. It queues
request body bytes for ``receive()``, validates the app's response and frames it
(Content-Length, chunked, or close-delimited for HTTP/1.0), and holds the response head
back until the first body message so that a complete response (head, body, end) leaves
in a single write.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable
from typing import BinaryIO, Final, Protocol, cast

from tornadoish.server.config import ServerConfig
from tornadoish.server.parsing import (
    BODYLESS_STATUSES,
    InvalidResponse,
    ResponseHead,
    describe_client,
    describe_request,
    response_head,
    validate_response_start,
)
from tornadoish.types import ASGIApp, HTTPScope, Message, Scope

__all__ = ["ClientDisconnected", "CycleOwner", "RequestCycle"]

error_log: Final = logging.getLogger("tornadoish.server.error")
access_log: Final = logging.getLogger("tornadoish.server.access")

# Chunk size when a file is sent by reading it in a thread (no sendfile, e.g. over TLS).
_FILE_CHUNK_BYTES: Final = 256 * 1024
_DISCONNECT: Final = {"type": "http.disconnect"}
_CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
# Streamed body bytes held back to be written together (see RequestCycle._write).
_COALESCE_BYTES: Final = 64 * 1024
# How the response body is framed on the wire (RFC 9112 §6).
_LENGTH: Final = 0
_CHUNKED: Final = 1
_CLOSE_DELIMITED: Final = 2
_NO_BODY: Final = 3


class ClientDisconnected(OSError):
    """``send()`` was called after the client went away (ASGI HTTP spec 2.4)."""


class CycleOwner(Protocol):
    """What a request cycle needs from the connection that owns it."""

    transport: asyncio.Transport
    writing_paused: bool
    # The request tasks still running, until each removes itself when its app returns.
    tasks: dict[asyncio.Task[None], RequestCycle]

    def wait_writable(self) -> Awaitable[None]:
        """Resolve when the transport's write buffer drained below its high-water mark."""

    def date_header(self) -> bytes:
        """The current ``Date`` header value."""

    def body_wait_started(self, cycle: RequestCycle) -> None:
        """The app waits in ``receive()`` for body bytes (arm the body timer, read)."""

    def body_wait_ended(self, cycle: RequestCycle) -> None:
        """The app's ``receive()`` got what it waited for (cancel the body timer)."""

    def response_complete(self, cycle: RequestCycle) -> None:
        """The whole response has been handed to the transport."""

    def response_failed(self, cycle: RequestCycle) -> None:
        """The app failed: send a 500 if nothing was written, else close."""


def _open_file(path: str | os.PathLike[str]) -> tuple[BinaryIO, int]:
    file = open(path, "rb")  # noqa: SIM115 - closed by the caller
    try:
        return file, os.fstat(file.fileno()).st_size
    except BaseException:
        file.close()
        raise


class RequestCycle:
    """The ASGI callables and response state of one request on one connection."""

    def __init__(
        self,
        owner: CycleOwner,
        scope: HTTPScope,
        config: ServerConfig,
        *,
        method: bytes,
        keep_alive: bool,
        expects_body: bool,
        http10: bool = False,
        expect_continue: bool = False,
    ) -> None:
        self.owner = owner
        # The task running this cycle, once the owner has registered it in its tasks.
        self.task: asyncio.Task[None] | None = None
        self.scope = scope
        self.config = config
        self.method = method
        # Whether the connection may serve another request after this one: the client
        # and the server agree, and (once the head is written) the response allows it.
        self.keep_alive = keep_alive
        self.http10 = http10
        # The client sent "Expect: 100-continue" and holds its body until told to send
        # it (cleared once body bytes arrive or a response goes out).
        self.expect_continue = expect_continue
        # Request side.
        self._body: list[bytes] = []
        self.buffered = 0
        self.more_body = expects_body
        self._body_delivered = False
        self._receive_waiter: asyncio.Future[None] | None = None
        self._disconnect_waiter: asyncio.Future[None] | None = None
        # Connection state as seen by this cycle.
        self.disconnected = False
        self.peer_eof = False
        # Response side.
        self.response_started = False
        self.wrote = False
        self.response_complete = False
        self.failed = False
        self._head: ResponseHead | None = None
        self._framing = _NO_BODY
        # Body bytes still due under a Content-Length.
        self._remaining = 0
        # Streamed pieces not yet handed to the transport (see _write).
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._write_scheduled = False
        self.status = 0

    # -- driven by the connection --------------------------------------------------

    def feed_body(self, data: bytes) -> None:
        """Queue request body bytes for the app."""
        self.expect_continue = False
        self._body.append(data)
        self.buffered += len(data)
        self._wake()

    def end_body(self) -> None:
        """The request body is complete."""
        self.expect_continue = False
        self.more_body = False
        self._wake()

    def discard_body(self) -> None:
        """Drop queued body bytes: the response is complete, the app will not read them."""
        self._body.clear()
        self.buffered = 0

    def disconnect(self) -> None:
        """The client is gone (or the request is abandoned): receive() says so, send() raises."""
        self.disconnected = True
        self._wake()
        waiter = self._disconnect_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def peer_finished(self) -> None:
        """The client sent EOF. It may have only half-closed (RFC 9112 §9.6 allows a
        client to shut down its sending side and still read the response), so sends
        keep working; but an app waiting for ``http.disconnect`` after the body (a long
        poll) is told now, as uvicorn and hypercorn do: with a plain FIN the two cannot
        be told apart, and a long poll must not outlive its client."""
        self.peer_eof = True
        waiter = self._disconnect_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake(self) -> None:
        waiter = self._receive_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def run(self, app: ASGIApp) -> None:
        """Call the app; turn its failures into a 500 or a closed connection."""
        try:
            await app(cast(Scope, self.scope), self.receive, self.send)
        except Exception as exc:
            if self.disconnected and isinstance(exc, OSError):
                # The client went away: not an error of anyone we can help.
                error_log.debug("client disconnected during %s", describe_request(self.scope))
                return
            error_log.exception("exception in ASGI app for %s", describe_request(self.scope))
            self.failed = True
            self._write_pending()  # what was sent goes out before the connection closes
            if not self.response_complete:
                self.owner.response_failed(self)
        else:
            if not self.response_complete and not self.disconnected:
                if self.peer_eof:
                    # Told of the client's EOF, the app gave up: expected, not a bug.
                    error_log.debug("client left during %s", describe_request(self.scope))
                else:
                    error_log.error(
                        "ASGI app returned without completing the response to %s",
                        describe_request(self.scope),
                    )
                self.failed = True
                self._write_pending()
                self.owner.response_failed(self)
        finally:
            # Cheaper than a done-callback on every request's task.
            if self.task is not None:
                self.owner.tasks.pop(self.task, None)

    # -- ASGI receive ------------------------------------------------------------------

    async def receive(self) -> Message:
        if self.disconnected:
            return dict(_DISCONNECT)
        if self.response_complete or self._body_delivered:
            # ASGI HTTP 2.4: nothing more will come but the disconnect.
            if not self.peer_eof:
                await self._wait_disconnect()
            return dict(_DISCONNECT)
        if self.expect_continue and not self.response_started:
            self.expect_continue = False
            # Sent lazily, on the first receive(): an app that answers without
            # reading never makes the client send its body (RFC 9110 §10.1.1). Never
            # to an HTTP/1.0 client (same section).
            if not self.http10:
                self.owner.transport.write(_CONTINUE)
        while not self._body and self.more_body:
            self._receive_waiter = asyncio.get_running_loop().create_future()
            self.owner.body_wait_started(self)
            try:
                await self._receive_waiter
            finally:
                self._receive_waiter = None
                self.owner.body_wait_ended(self)
            if self._gone():
                return dict(_DISCONNECT)
        chunks = self._body
        if chunks:
            body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            chunks.clear()
            self.buffered = 0
            # Reading may have paused on these bytes: let the connection resume it.
            self.owner.body_wait_ended(self)
        else:
            body = b""  # (a request without a body: nothing to tell the connection)
        more = self.more_body
        if not more:
            self._body_delivered = True
        return {"type": "http.request", "body": body, "more_body": more}

    def _gone(self) -> bool:
        # A method, not the attribute, so that type narrowing survives no await.
        return self.disconnected

    async def _wait_disconnect(self) -> None:
        if self._disconnect_waiter is None:
            self._disconnect_waiter = asyncio.get_running_loop().create_future()
        await self._disconnect_waiter

    # -- ASGI send ---------------------------------------------------------------------

    async def send(self, message: Message) -> None:
        if self.disconnected:
            raise ClientDisconnected("client disconnected")
        if self.failed:
            raise RuntimeError("the response already failed")
        kind = message.get("type")
        if not self.response_started:
            if kind != "http.response.start":
                self.failed = True
                raise InvalidResponse(f"expected 'http.response.start', got {kind!r}")
            try:
                self._head = validate_response_start(message)
            except InvalidResponse:
                self.failed = True
                raise
            self.response_started = True
            self.status = self._head.status
            return
        if self.response_complete:
            raise RuntimeError(f"{kind!r} sent after the response completed")
        if kind == "http.response.body":
            body = message.get("body", b"")
            if not isinstance(body, bytes):
                if not isinstance(body, bytearray | memoryview):
                    self.failed = True
                    raise InvalidResponse(f"response body must be bytes, got {type(body)}")
                body = bytes(body)
            await self._send_body(body, bool(message.get("more_body", False)))
        elif kind == "http.response.pathsend":
            await self._send_path(message.get("path"))
        else:
            self.failed = True
            raise InvalidResponse(f"unexpected ASGI message {kind!r} in an http response")

    async def _writable(self) -> None:
        if self.owner.writing_paused:
            await self.owner.wait_writable()
            if self.disconnected:
                raise ClientDisconnected("client disconnected")

    async def _send_body(self, body: bytes, more: bool) -> None:
        if self.owner.writing_paused:
            await self._writable()
        out: list[bytes] = []
        if not self.wrote:
            out.append(self._head_bytes(None if more else len(body)))
        framing = self._framing
        if body:
            if framing == _LENGTH:
                self._remaining -= len(body)
                if self._remaining < 0:
                    self.failed = True
                    raise InvalidResponse("response body longer than its Content-Length")
                out.append(body)
            elif framing == _CHUNKED:
                out += (b"%x\r\n" % len(body), body, b"\r\n")
            elif framing == _CLOSE_DELIMITED:
                out.append(body)
            else:
                self._log_dropped_body(len(body))
        if not more:
            if framing == _LENGTH and self._remaining:
                self.failed = True
                raise InvalidResponse("response body shorter than its Content-Length")
            if framing == _CHUNKED:
                out.append(b"0\r\n\r\n")
        self._write(out, final=not more)
        if not more:
            self._complete()

    async def _send_path(self, path: object) -> None:
        if not isinstance(path, str | os.PathLike):
            self.failed = True
            raise InvalidResponse(f"pathsend path must be a str or os.PathLike: {path!r}")
        if self.wrote:
            self.failed = True
            raise InvalidResponse("http.response.pathsend after a response body")
        try:
            file, size = await asyncio.to_thread(_open_file, path)
        except OSError:
            self.failed = True
            raise
        try:
            head = self._head
            assert head is not None
            if head.content_length is not None and head.content_length != size:
                self.failed = True
                raise InvalidResponse(
                    f"Content-Length {head.content_length} differs from file size {size}"
                )
            await self._writable()
            self._write([self._head_bytes(size)])
            if self._framing == _LENGTH and size:
                await self._send_file(file, size)
        finally:
            file.close()
        self._complete()

    async def _send_file(self, file: BinaryIO, size: int) -> None:
        loop = asyncio.get_running_loop()
        transport = self.owner.transport
        try:
            await loop.sendfile(transport, file, 0, size, fallback=False)
            return
        except (NotImplementedError, RuntimeError) as exc:
            # No native sendfile for this transport (TLS, uvloop, a test double), raised
            # before any byte was sent: read the file in a thread instead. asyncio raises
            # RuntimeError (SendfileNotAvailableError is one) for this and for a closing
            # transport alike.
            if self.disconnected or transport.is_closing():
                raise ClientDisconnected("client disconnected") from exc
        except OSError as exc:
            if self.disconnected or transport.is_closing():
                raise ClientDisconnected("client disconnected") from exc
            raise
        file.seek(0)
        left = size
        while left:
            chunk = await asyncio.to_thread(file.read, min(_FILE_CHUNK_BYTES, left))
            if not chunk:
                raise InvalidResponse("file shrank while being sent")
            await self._writable()
            if self.disconnected:
                raise ClientDisconnected("client disconnected")
            transport.write(chunk)
            left -= len(chunk)

    def _head_bytes(self, known_length: int | None) -> bytes:
        """The response head, with the framing chosen (RFC 9112 §6.3) and our headers
        added: Content-Length, Transfer-Encoding, Server, Date and Connection."""
        head = self._head
        assert head is not None
        headers = head.headers
        config = self.config
        status = self.status
        if status in BODYLESS_STATUSES:
            self._framing = _NO_BODY
        elif head.content_length is not None:
            self._framing = _LENGTH
            self._remaining = head.content_length
        elif known_length is not None:
            self._framing = _LENGTH
            self._remaining = known_length
            # A HEAD response with no body says nothing of the length of the GET one.
            if known_length or self.method != b"HEAD":
                headers.append((b"content-length", b"%d" % known_length))
        elif not self.http10:
            self._framing = _CHUNKED
            headers.append((b"transfer-encoding", b"chunked"))
        else:
            # A body of unknown length for an HTTP/1.0 client: its end is the close.
            self._framing = _CLOSE_DELIMITED
            if self.method != b"HEAD":
                self.keep_alive = False
        if self.method == b"HEAD":
            self._framing = _NO_BODY
        if config.server_header and not head.has_server:
            headers.append((b"server", b"tornadoish"))
        if config.date_header and not head.has_date:
            headers.append((b"date", self.owner.date_header()))
        if self.expect_continue:
            # The client still holds its body back, waiting for a 100 that will not
            # come: the connection cannot be reused reliably.
            self.expect_continue = False
            self.keep_alive = False
        if head.close:
            self.keep_alive = False
        elif not self.keep_alive:
            # The app's own Connection header (say "keep-alive") would contradict ours.
            headers = [h for h in headers if h[0] != b"connection"]
            headers.append((b"connection", b"close"))
        elif self.http10:
            # RFC 9112 §9.3 / Appendix C.2.2: an HTTP/1.0 client keeps the connection
            # only when told so.
            headers.append((b"connection", b"keep-alive"))
        return response_head(status, headers)

    def log_access(self, status: int) -> None:
        """One access log line for this request, as its response goes on the wire."""
        if self.config.access_log:
            access_log.info(
                '%s - "%s" %d', describe_client(self.scope), describe_request(self.scope), status
            )

    def _write(self, pieces: list[bytes], *, final: bool = True) -> None:
        """Hand ``pieces`` to the transport: now if ``final``, else coalesced.

        Each ``transport.write`` is a send() system call. A streaming app often sends
        several pieces in one step of its task (a handler flushing in a loop), so
        non-final pieces wait in ``_pending`` until the end of the current event-loop
        iteration, or until :data:`_COALESCE_BYTES` pile up (so that a tight loop still
        meets the transport's flow control), and leave together.
        """
        if not pieces:
            return
        if not self.wrote:
            self.wrote = True
            self.log_access(self.status)
        if final and not self._pending:
            self.owner.transport.write(pieces[0] if len(pieces) == 1 else b"".join(pieces))
            return
        self._pending += pieces
        self._pending_bytes += sum(map(len, pieces))
        if final or self._pending_bytes >= _COALESCE_BYTES:
            self._write_pending()
        elif not self._write_scheduled:
            self._write_scheduled = True
            asyncio.get_running_loop().call_soon(self._write_pending)

    def _write_pending(self) -> None:
        self._write_scheduled = False
        if self._pending:
            pending, self._pending = self._pending, []
            self._pending_bytes = 0
            self.owner.transport.write(b"".join(pending))

    def _complete(self) -> None:
        # A receive() still waiting for body bytes keeps waiting, now for the disconnect.
        self.response_complete = True
        self.owner.response_complete(self)

    def _log_dropped_body(self, size: int) -> None:
        # Usual for HEAD (apps reuse their GET code), a bug for 204/304.
        level = logging.DEBUG if self.method == b"HEAD" else logging.WARNING
        error_log.log(
            level,
            "dropped %d body bytes of a %d response to %s",
            size,
            self.status,
            describe_request(self.scope),
        )
