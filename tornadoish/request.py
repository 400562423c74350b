"""HTTPServerRequest: one HTTP request with Tornado's field names (layer: framework).

Arguments, cookies and form bodies are parsed lazily, on first use, so a handler
that never looks at them never pays for them.
"""

from __future__ import annotations

import http.cookies
import time

from tornadoish.httputil import HTTPFile, HTTPHeaders, parse_cookie, parse_qs_bytes

__all__ = ["HTTPServerRequest", "RequestConnection"]


class RequestConnection:
    """The part of Tornado's ``request.connection`` a handler may use under ASGI:
    per-request body limits, set in ``prepare()`` of a ``@stream_request_body``
    handler. The ASGI server owns the real connection."""

    __slots__ = ("body_timeout", "max_body_size")

    def __init__(self) -> None:
        self.max_body_size: int | None = None
        self.body_timeout: float | None = None

    def set_max_body_size(self, max_body_size: int) -> None:
        """Largest body (bytes) accepted for this request; beyond it: 413."""
        if isinstance(max_body_size, bool) or not isinstance(max_body_size, int):
            raise TypeError(f"max_body_size must be an int, got {max_body_size!r}")
        if max_body_size < 0:
            raise ValueError(f"max_body_size must not be negative, got {max_body_size}")
        self.max_body_size = max_body_size

    def set_body_timeout(self, timeout: float) -> None:
        """Longest wait (seconds) for each body chunk; beyond it: 408."""
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ValueError(f"body timeout must be a positive number, got {timeout!r}")
        self.body_timeout = float(timeout)


class HTTPServerRequest:
    """A request as a handler sees it: ``self.request``.

    ``path`` and ``uri`` are what the client sent (still percent-encoded), including
    any ``root_path`` prefix under which the app is mounted; ``root_path`` holds that
    prefix (Tornado has no such notion).
    """

    def __init__(
        self,
        method: str,
        uri: str,
        version: str = "HTTP/1.1",
        headers: HTTPHeaders | None = None,
        body: bytes = b"",
        remote_ip: str | None = None,
        protocol: str = "http",
        host: str | None = None,
        root_path: str = "",
    ) -> None:
        self.method = method
        self.uri = uri
        self.version = version
        self.headers = headers if headers is not None else HTTPHeaders()
        self.body = body
        self.remote_ip = remote_ip
        self.protocol = protocol
        self.host = self._host_given = host or self.headers.get("Host") or "127.0.0.1"
        self.root_path = root_path
        path, _, query = uri.partition("?")
        self.path = path
        self.query = query
        self._start_time = time.time()

    # Made on first use: most requests never look at them (class-level None until then
    # spares __init__ the writes). The framework reads the private fields, where None
    # means "not made yet".
    _finish_time: float | None = None
    _query_arguments: dict[str, list[bytes]] | None = None
    _body_arguments: dict[str, list[bytes]] | None = None
    _files: dict[str, list[HTTPFile]] | None = None
    _arguments: dict[str, list[bytes]] | None = None
    _cookies: http.cookies.SimpleCookie | None = None
    _host_name: str | None = None
    _connection: RequestConnection | None = None

    @property
    def host_name(self) -> str:
        """``host`` without the port, lower-cased (``[::1]`` keeps its brackets); as in
        Tornado, from the host the request was made with, whatever is done to ``host``
        afterwards."""
        if self._host_name is None:
            self._host_name = _split_host_name(self._host_given)
        return self._host_name

    @host_name.setter
    def host_name(self, value: str) -> None:
        self._host_name = value

    @property
    def connection(self) -> RequestConnection:
        """Per-request body limits (see :class:`RequestConnection`)."""
        if self._connection is None:
            self._connection = RequestConnection()
        return self._connection

    @connection.setter
    def connection(self, value: RequestConnection) -> None:
        self._connection = value

    # -- arguments ---------------------------------------------------------------------

    @property
    def query_arguments(self) -> dict[str, list[bytes]]:
        """The query string's arguments: name -> list of raw byte values."""
        if self._query_arguments is None:
            self._query_arguments = parse_qs_bytes(self.query) if self.query else {}
        return self._query_arguments

    @query_arguments.setter
    def query_arguments(self, value: dict[str, list[bytes]]) -> None:
        self._query_arguments = value

    @property
    def body_arguments(self) -> dict[str, list[bytes]]:
        """The form body's arguments (urlencoded or multipart): name -> list of raw
        byte values; parsed on first use."""
        if self._body_arguments is None:
            self._parse_body()
        assert self._body_arguments is not None
        return self._body_arguments

    @body_arguments.setter
    def body_arguments(self, value: dict[str, list[bytes]]) -> None:
        self._body_arguments = value

    @property
    def files(self) -> dict[str, list[HTTPFile]]:
        """The multipart body's uploaded files: field name -> list of
        :class:`~tornadoish.httputil.HTTPFile`; parsed on first use."""
        if self._files is None:
            self._parse_body()
        assert self._files is not None
        return self._files

    @files.setter
    def files(self, value: dict[str, list[HTTPFile]]) -> None:
        self._files = value

    @property
    def arguments(self) -> dict[str, list[bytes]]:
        """Query and body arguments together, query values first.

        Built on first use, then the same dict: as in Tornado, a handler may change it
        (say in ``prepare()``) and ``get_argument()`` sees the change.
        """
        if self._arguments is None:
            merged = {name: list(values) for name, values in self.query_arguments.items()}
            for name, values in self.body_arguments.items():
                merged.setdefault(name, []).extend(values)
            self._arguments = merged
        return self._arguments

    @arguments.setter
    def arguments(self, value: dict[str, list[bytes]]) -> None:
        self._arguments = value

    def _parse_body(self) -> None:
        # Imported here: the forms module pulls in python-multipart, needed only for
        # requests that actually read a form body.
        from tornadoish.forms import parse_body_arguments

        content_type = self.headers.get("Content-Type", "")
        if self.body and content_type:
            self._body_arguments, self._files = parse_body_arguments(content_type, self.body)
        else:
            self._body_arguments, self._files = {}, {}

    # -- cookies -----------------------------------------------------------------------

    @property
    def cookies(self) -> http.cookies.SimpleCookie:
        """The request's cookies as a ``SimpleCookie`` (``cookies[name].value``)."""
        if self._cookies is None:
            jar: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
            for header in self.headers.get_list("Cookie"):
                for name, value in parse_cookie(header).items():
                    try:
                        jar[name] = value
                    except http.cookies.CookieError:
                        # A name the stdlib refuses (odd characters): skip it, as
                        # Tornado does, rather than failing the whole request.
                        pass
            self._cookies = jar
        return self._cookies

    # -- misc --------------------------------------------------------------------------

    def full_url(self) -> str:
        """The URL the client asked for: ``protocol://host/root_path/path?query``."""
        return f"{self.protocol}://{self.host}{self.uri}"

    def request_time(self) -> float:
        """Seconds from the start of the request to its finish (or to now)."""
        end = self._finish_time if self._finish_time is not None else time.time()
        return end - self._start_time

    def __repr__(self) -> str:
        fields = ("protocol", "host", "method", "uri", "version", "remote_ip")
        args = ", ".join(f"{name}={getattr(self, name)!r}" for name in fields)
        return f"{type(self).__name__}({args})"


def _split_host_name(host: str) -> str:
    """``Example.com:8080`` -> ``example.com``; ``[::1]:80`` -> ``[::1]`` (Tornado's rule)."""
    host = host.lower()
    name, colon, port = host.rpartition(":")
    if colon and name and port.isdigit():
        return name
    return host
