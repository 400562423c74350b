"""Gzip content coding for responses (layer: pure).

Tornado's rules: compress ``text/*`` and a few structured types when the client
accepts gzip, the response has no Content-Encoding yet and, when it is finished in
one go, is at least 1 KiB; always add ``Vary: Accept-Encoding``. Unlike Tornado, a
compressed response's ETag is made weak (RFC 9110 §8.8.3: a strong validator must
change with the encoding), so caches never confuse the two encodings.
"""

from __future__ import annotations

import zlib

from tornadoish.httputil import HTTPHeaders

__all__ = ["COMPRESSIBLE_TYPES", "GZIP_LEVEL", "MIN_COMPRESS_LENGTH", "GzipEncoder"]

#: Content types gzipped besides ``text/*`` when ``compress_response`` is on.
COMPRESSIBLE_TYPES = frozenset(
    (
        "application/javascript",
        "application/x-javascript",
        "application/xml",
        "application/atom+xml",
        "application/json",
        "application/xhtml+xml",
        "image/svg+xml",
    )
)
# Level 6 is zlib's default balance of CPU and size (Tornado uses it too).
#: The zlib compression level used for responses.
GZIP_LEVEL = 6
# Below ~1 KiB the gzip header and CPU cost outweigh the bytes saved.
#: Responses shorter than this many bytes are sent uncompressed.
MIN_COMPRESS_LENGTH = 1024
# wbits 16 + 15: a gzip (not raw zlib) stream with the largest window.
_GZIP_WBITS = 16 + zlib.MAX_WBITS


def _accepts_gzip(accept_encoding: str) -> bool:
    for coding in accept_encoding.split(","):
        name, _, params = coding.strip().partition(";")
        if name.strip().lower() in ("gzip", "x-gzip", "*"):
            quality = params.strip().lower()
            # RFC 9110 §12.5.3: q=0 means "not acceptable".
            return not (quality.startswith("q=") and _is_zero(quality[2:]))
    return False


def _is_zero(quality: str) -> bool:
    try:
        return float(quality) == 0.0
    except ValueError:
        return False


class GzipEncoder:
    """Compresses one response: ``first()`` for the head and first chunk, then
    ``chunk()`` for each later chunk."""

    __slots__ = ("_compressor", "active")

    def __init__(self, accept_encoding: str) -> None:
        self.active = _accepts_gzip(accept_encoding)
        self._compressor: zlib._Compress | None = None

    def first(self, status: int, headers: HTTPHeaders, chunk: bytes, finishing: bool) -> bytes:
        """Decide whether to compress; adjust ``headers`` in place; return the chunk."""
        if "Vary" in headers:
            headers["Vary"] += ", Accept-Encoding"
        else:
            headers["Vary"] = "Accept-Encoding"
        if self.active:
            content_type = headers.get("Content-Type", "").split(";")[0].strip().lower()
            self.active = (
                (content_type.startswith("text/") or content_type in COMPRESSIBLE_TYPES)
                and (not finishing or len(chunk) >= MIN_COMPRESS_LENGTH)
                and "Content-Encoding" not in headers
                and status not in (204, 304)
            )
        if not self.active:
            return chunk
        headers["Content-Encoding"] = "gzip"
        etag = headers.get("Etag")
        if etag and not etag.startswith("W/"):
            headers["Etag"] = "W/" + etag
        self._compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, _GZIP_WBITS)
        chunk = self.chunk(chunk, finishing)
        if "Content-Length" in headers:
            if finishing:
                headers["Content-Length"] = str(len(chunk))
            else:
                del headers["Content-Length"]
        return chunk

    def chunk(self, data: bytes, finishing: bool) -> bytes:
        """Compress a later chunk; a sync flush makes streamed output decodable as it goes."""
        if self._compressor is None:
            return data
        compressed = self._compressor.compress(data)
        tail = self._compressor.flush(zlib.Z_FINISH if finishing else zlib.Z_SYNC_FLUSH)
        return compressed + tail
