"""StaticFileHandler: files from a directory, with versioned URLs, ETags, conditional
requests and byte ranges (layer: framework).

The names, overridable methods and HTTP behaviour are Tornado's. What differs: file
contents are read in a worker thread (``anyio.to_thread``) and streamed with flow
control, or, when the server offers the ASGI ``http.response.pathsend`` extension and
the whole file is wanted, sent by the server itself; a path with a NUL byte is a 404
(Tornado answers 500).
"""

from __future__ import annotations

import datetime
import email.utils
import hashlib
import mimetypes
import os
import stat
import threading
from collections.abc import Awaitable, Iterable, Iterator
from typing import Any, ClassVar

import anyio.to_thread

from tornadoish._ranges import (
    content_range,
    parse_range,
    resolve_range,
    unsatisfied_content_range,
)
from tornadoish.errors import HTTPError
from tornadoish.handler import RequestHandler
from tornadoish.httputil import as_browser_reads
from tornadoish.log import gen_log

__all__ = ["StaticFileHandler"]

# Bytes per read when streaming a file: one worker-thread hop per chunk, and what one
# response holds in memory at a time.
_CHUNK_BYTES = 64 * 1024


class StaticFileHandler(RequestHandler):
    """Serve the files below the directory ``path``: ``(r"/static/(.*)",
    StaticFileHandler, {"path": "/var/www"})``; the pattern's group is the file's path.

    Set by ``Application`` for the ``static_path`` setting. With ``default_filename``
    a directory serves that file (and a directory URL without its trailing slash is
    redirected to it). Symlinks may not lead outside ``allowed_symlink_directory``
    (default: ``path``). Override the same methods as in Tornado to customise it.
    """

    #: Seconds a versioned URL (``?v=``) may be cached: ten years.
    CACHE_MAX_AGE: ClassVar[int] = 86400 * 365 * 10

    #: Larger files get no version (and no ETag): hashing them would take too long.
    MAX_VERSION_CONTENT_SIZE: ClassVar[int] = 64 * 1024 * 1024

    #: Versions kept in the cache; past it, the least recently used one is dropped.
    MAX_CACHED_VERSIONS: ClassVar[int] = 10000

    # absolute path -> content version (None: could not be computed), oldest use first.
    _static_hashes: ClassVar[dict[str, str | None]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    # Defaults on the class: subclasses with their own initialize() may not call ours.
    allowed_symlink_directory: str | list[str] | None = None
    default_filename: str | None = None
    absolute_path: str | None = None
    modified: datetime.datetime | None = None

    def initialize(
        self,
        path: str,
        default_filename: str | None = None,
        allowed_symlink_directory: str | list[str] | None = None,
    ) -> None:
        self.root = path
        self.default_filename = default_filename
        self.allowed_symlink_directory = allowed_symlink_directory

    @classmethod
    def reset(cls) -> None:
        """Forget every cached version (files will be hashed again)."""
        with cls._lock:
            cls._static_hashes = {}

    def head(self, path: str) -> Awaitable[None]:
        """Like :meth:`get` without the body."""
        return self.get(path, include_body=False)

    async def get(self, path: str, include_body: bool = True) -> None:
        """Send the file at ``path`` below the root (or ``default_filename`` for a
        directory), honouring conditional and range requests."""
        if not self.settings.get("static_hash_cache", True):
            self.reset()
        self.path = self.parse_url_path(path)
        del path  # only self.path from here on
        absolute_path = self.get_absolute_path(self.root, self.path)
        self.absolute_path = self.validate_absolute_path(self.root, absolute_path)
        if self.absolute_path is None:
            return
        if not _overridden(type(self), "compute_etag"):
            # Hash the file off the event loop; compute_etag() then finds it cached.
            await anyio.to_thread.run_sync(self._get_cached_version, self.absolute_path)

        self.modified = self.get_modified_time()
        self.set_headers()
        if self.should_return_304():
            self.set_status(304)
            return

        size = self.get_content_size()
        start: int | None = None
        end: int | None = None
        requested = parse_range(self.request.headers.get("Range") or "")
        if requested is not None:
            span = resolve_range(requested, size)
            if span is None:
                self.set_status(416)
                self.set_header("Content-Type", "text/plain")
                self.set_header("Content-Range", unsatisfied_content_range(size))
                return
            start, end = span
            # 206 only for a part: Chrome refuses audio answered 206 to "bytes=0-".
            if (start, end) != (0, size):
                self.set_status(206)
                self.set_header("Content-Range", content_range(start, end, size))
        length = size if start is None or end is None else end - start
        self.set_header("Content-Length", length)
        if not include_body:
            return
        if (
            length == size
            and not _overridden(type(self), "get_content")
            and self._finish_with_file(self.absolute_path, size)
        ):
            return
        await self._stream(self.absolute_path, start, end)

    async def _stream(self, absolute_path: str, start: int | None, end: int | None) -> None:
        """Write the content chunk by chunk, each read in a worker thread and flushed
        (so a slow client holds back the reads) before the next."""
        content: bytes | Iterable[bytes] = await anyio.to_thread.run_sync(
            self.get_content, absolute_path, start, end
        )
        chunks: Iterator[bytes] = iter([content] if isinstance(content, bytes) else content)
        try:
            while True:
                chunk = await anyio.to_thread.run_sync(next, chunks, None)
                if chunk is None:
                    return
                self.write(chunk)
                await self.flush()
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    def compute_etag(self) -> str | None:
        """The file's version (content hash) as a strong ETag, so a partial answer
        carries the same ETag as the whole file."""
        if self.absolute_path is None:
            return None
        version = self._get_cached_version(self.absolute_path)
        return f'"{version}"' if version else None

    def set_headers(self) -> None:
        """Set the content and caching headers of the answer."""
        self.set_header("Accept-Ranges", "bytes")
        self.set_etag_header()
        if self.modified is not None:
            self.set_header("Last-Modified", self.modified)
        content_type = self.get_content_type()
        if content_type:
            self.set_header("Content-Type", content_type)
        cache_time = self.get_cache_time(self.path, self.modified, content_type)
        if cache_time > 0:
            expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=cache_time)
            self.set_header("Expires", expires)
            self.set_header("Cache-Control", f"max-age={cache_time}")
        self.set_extra_headers(self.path)

    def should_return_304(self) -> bool:
        """True when the client's copy is current: If-None-Match when sent (it wins,
        RFC 9110 §13.1.3), else If-Modified-Since."""
        if self.request.headers.get("If-None-Match"):
            return self.check_etag_header()
        since_header = self.request.headers.get("If-Modified-Since")
        if since_header is None or self.modified is None:
            return False
        try:
            since = email.utils.parsedate_to_datetime(since_header)
        except (TypeError, ValueError, IndexError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=datetime.UTC)
        modified = self.modified
        if modified.tzinfo is None:
            modified = modified.replace(tzinfo=datetime.UTC)
        return since >= modified

    # -- paths --------------------------------------------------------------------------

    @classmethod
    def get_absolute_path(cls, root: str, path: str) -> str:
        """The absolute file-system path of ``path`` below ``root``; 403 when, as
        written (``../``, an absolute path), it leads outside ``root``."""
        absolute_path = os.path.abspath(os.path.join(root, path))
        _inside_root(root, absolute_path, path)
        return absolute_path

    def validate_absolute_path(self, root: str, absolute_path: str) -> str | None:
        """Check ``absolute_path`` and return the file to serve: 403 outside ``root``
        (symlinks resolved) or for anything but a regular file, 404 when missing.

        For a directory with ``default_filename`` set, that file; a directory URL
        without its trailing slash is redirected (and None returned).
        """
        if "\x00" in absolute_path:
            # No file name holds a NUL; the OS would refuse it (Tornado answers 500).
            raise HTTPError(404)
        root = _inside_root(root, absolute_path, self.path)
        allowed = self.allowed_symlink_directory or root
        allowed_directories = [allowed] if isinstance(allowed, str) else list(allowed)
        # The check above is on the path as written (so "../" cannot sneak through a
        # wider allowed_symlink_directory); this one is on the file really opened.
        absolute_path = _resolve_inside(absolute_path, allowed_directories, self.path)
        if self.default_filename is not None and os.path.isdir(absolute_path):
            # request.path, not self.path: the routing may have cut the prefix off.
            if not self.request.path.endswith("/"):
                if as_browser_reads(self.request.path).startswith("//"):
                    # "//host/x" + "/" would be read as another host: an open redirect.
                    raise HTTPError(403, "cannot redirect path with two initial slashes")
                self.redirect(self.request.path + "/", permanent=True)
                return None
            absolute_path = os.path.join(absolute_path, self.default_filename)
            absolute_path = _resolve_inside(absolute_path, allowed_directories, self.path)
        self._stat_result = _stat_regular_file(absolute_path, self.path)
        return absolute_path

    def parse_url_path(self, url_path: str) -> str:
        """The file-system path (relative to the root) for the URL path ``url_path``."""
        if os.path.sep != "/":
            url_path = url_path.replace("/", os.path.sep)
        return url_path

    # -- content ------------------------------------------------------------------------

    @classmethod
    def get_content(
        cls, abspath: str, start: int | None = None, end: int | None = None
    ) -> Iterator[bytes]:
        """The bytes ``start:end`` of the file, as an iterator of chunks (or bytes).

        Synchronous: the handler calls it, and pulls each chunk, in a worker thread.
        """
        _stat_regular_file(abspath, abspath)
        with open(abspath, "rb") as file:
            if start is not None:
                file.seek(start)
            remaining = None if end is None else end - (start or 0)
            while remaining is None or remaining > 0:
                size = _CHUNK_BYTES if remaining is None else min(_CHUNK_BYTES, remaining)
                chunk = file.read(size)
                if not chunk:
                    return
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    @classmethod
    def get_content_version(cls, abspath: str) -> str:
        """The version of the file: the SHA-512 of its content (as Tornado).

        ValueError for content larger than ``MAX_VERSION_CONTENT_SIZE``.
        """
        content: bytes | Iterable[bytes] = cls.get_content(abspath)
        chunks = [content] if isinstance(content, bytes) else content
        hasher = hashlib.sha512()
        size = 0
        try:
            for chunk in chunks:
                size += len(chunk)
                if size > cls.MAX_VERSION_CONTENT_SIZE:
                    raise _TooLargeToHash(
                        f"content is larger than MAX_VERSION_CONTENT_SIZE "
                        f"({cls.MAX_VERSION_CONTENT_SIZE} bytes)"
                    )
                hasher.update(chunk)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        return hasher.hexdigest()

    def _stat(self) -> os.stat_result:
        if not hasattr(self, "_stat_result"):
            # A subclass's validate_absolute_path may not have stat'ed the file.
            assert self.absolute_path is not None
            self._stat_result = os.stat(self.absolute_path)
        return self._stat_result

    def get_content_size(self) -> int:
        """The size of the file in bytes."""
        return self._stat().st_size

    def get_modified_time(self) -> datetime.datetime | None:
        """When the file was last modified (whole seconds, UTC), for Last-Modified."""
        return datetime.datetime.fromtimestamp(int(self._stat().st_mtime), datetime.UTC)

    def get_content_type(self) -> str:
        """The Content-Type from the file name (``mimetypes``), without a charset as in
        Tornado; compressed files are ``application/gzip`` or ``application/octet-stream``
        (RFC 6713), unknown ones ``application/octet-stream``."""
        assert self.absolute_path is not None
        mime_type, encoding = mimetypes.guess_type(self.absolute_path)
        if encoding == "gzip":
            return "application/gzip"
        if encoding is not None or mime_type is None:
            return "application/octet-stream"
        return mime_type

    def set_extra_headers(self, path: str) -> None:
        """Override to add headers to every answer for ``path``."""

    def get_cache_time(self, path: str, modified: datetime.datetime | None, mime_type: str) -> int:
        """Seconds the answer may be cached: ``CACHE_MAX_AGE`` for a versioned URL
        (``?v=``), else 0 (no Expires/Cache-Control: the browser decides)."""
        return self.CACHE_MAX_AGE if "v" in self.request.arguments else 0

    # -- versioned URLs -----------------------------------------------------------------

    @classmethod
    def make_static_url(
        cls, settings: dict[str, Any], path: str, include_version: bool = True
    ) -> str:
        """The URL (below the mount point) of static file ``path``, with ``?v=<version>``
        unless ``include_version`` is false or the version is unknown."""
        url: str = settings.get("static_url_prefix", "/static/") + path
        if not include_version:
            return url
        version = cls.get_version(settings, path)
        return f"{url}?v={version}" if version else url

    @classmethod
    def get_version(cls, settings: dict[str, Any], path: str) -> str | None:
        """The (cached) version of static file ``path``; None when it cannot be read.

        The first call for a file reads it synchronously; ``path`` should name a
        known file, not come from the request.
        """
        return cls._get_cached_version(cls.get_absolute_path(settings["static_path"], path))

    @classmethod
    def _get_cached_version(cls, abs_path: str) -> str | None:
        with cls._lock:
            hashes = cls._static_hashes
            if abs_path in hashes:
                version = hashes[abs_path] = hashes.pop(abs_path)  # now most recently used
                return version or None
        # Hash without the lock: another thread (or the event loop, in static_url) must
        # not wait for a large file. Two threads may both hash a file; both agree.
        try:
            version = cls.get_content_version(abs_path)
        except _TooLargeToHash as exc:
            # A large video is no error: it is served, without version or ETag.
            gen_log.info("No version for static file %r: %s", abs_path, exc)
            version = None
        except Exception as exc:
            gen_log.error("Could not open static file %r: %s", abs_path, exc)
            version = None
        with cls._lock:
            hashes = cls._static_hashes
            hashes.pop(abs_path, None)
            while hashes and len(hashes) >= cls.MAX_CACHED_VERSIONS:
                del hashes[next(iter(hashes))]
            hashes[abs_path] = version
        return version or None


class _TooLargeToHash(ValueError):
    """The content is larger than ``MAX_VERSION_CONTENT_SIZE``."""


def _overridden(cls: type[StaticFileHandler], name: str) -> bool:
    """True when a subclass replaced StaticFileHandler's method ``name``."""
    for klass in cls.__mro__:
        if name in vars(klass):
            return klass is not StaticFileHandler
    return False


def _inside_root(root: str, absolute_path: str, path: str) -> str:
    """The normalised ``root`` with a trailing separator; 403 unless ``absolute_path``
    is ``root`` or below it (the separator keeps ``/www2`` out of ``/www``)."""
    root = os.path.abspath(root)
    if not root.endswith(os.path.sep):
        root += os.path.sep  # abspath keeps the separator only for "/" itself
    if not (absolute_path + os.path.sep).startswith(root):
        raise HTTPError(403, "%s is not in root static directory", path)
    if os.name == "nt" and ":" in absolute_path[len(root) :]:
        raise HTTPError(403, "%s is not a file", path)  # an NTFS alternate data stream
    return root


def _resolve_inside(absolute_path: str, allowed_directories: list[str], path: str) -> str:
    """``absolute_path`` with symlinks resolved; 403 unless it is inside one of
    ``allowed_directories`` (the same error as a ``../``: no telling which it was)."""
    resolved = os.path.realpath(absolute_path)
    for directory in allowed_directories:
        allowed = os.path.realpath(directory)
        if not allowed.endswith(os.path.sep):
            allowed += os.path.sep
        if (resolved + os.path.sep).startswith(allowed):
            return resolved
    raise HTTPError(403, "%s is not in root static directory", path)


def _stat_regular_file(absolute_path: str, path: str) -> os.stat_result:
    """The file's stat; 404 when missing, 403 for anything but a regular file (a
    directory, a FIFO that would block, a device that never ends)."""
    try:
        result = os.stat(absolute_path)
    except (OSError, ValueError):
        raise HTTPError(404)
    if not stat.S_ISREG(result.st_mode):
        raise HTTPError(403, "%s is not a file", path)
    return result
