"""Signed values and XSRF tokens in Tornado's wire formats (layer: pure).

Values signed here decode with Tornado's ``decode_signed_value`` and vice versa, so a
site moving from Tornado keeps its users' cookies. Decoding never raises on malformed
input: anything that is not a valid, fresh, correctly signed value gives ``None``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import time
from collections.abc import Callable, Mapping

__all__ = [
    "DEFAULT_SIGNED_VALUE_MIN_VERSION",
    "DEFAULT_SIGNED_VALUE_VERSION",
    "SecretTypes",
    "create_signed_value",
    "decode_signed_value",
    "decode_xsrf_token",
    "encode_xsrf_token",
    "get_signature_key_version",
    "xsrf_tokens_match",
]

#: A ``cookie_secret``: one key, or a dict of key version -> key for rotation.
SecretTypes = str | bytes | Mapping[int, str | bytes]
"""A single signing secret, or ``key_version -> secret`` for key rotation."""

# Tornado's defaults: new values use v2 (HMAC-SHA256, delimited fields); v1 values
# (HMAC-SHA1) are still accepted so old cookies keep working until they expire.
#: The signed-value format new cookies use (2: HMAC-SHA256).
DEFAULT_SIGNED_VALUE_VERSION = 2
#: The oldest signed-value format still accepted (1: HMAC-SHA1).
DEFAULT_SIGNED_VALUE_MIN_VERSION = 1

_SECONDS_PER_DAY = 86400
# A v1 signature does not separate the value from the timestamp, so digits could move
# from one to the other without breaking it; Tornado therefore rejects v1 timestamps
# more than this far in the future. Kept for the same reason.
_V1_MAX_FUTURE_DAYS = 31
# Tornado's version prefix: a decimal without leading zero, then "|". Matched with
# ``re.match`` and no DOTALL, exactly like Tornado, so newline-laden input is classified
# the same way (it then fails as v1).
_VERSION_RE = re.compile(rb"([1-9][0-9]*)\|(.*)$")
# A v1 value is bare base64, which may start with digits; base64 comes in blocks of 4,
# so a prefix of at most 3 digits is a version and anything longer is v1 data.
_MAX_VERSION = 999
_XSRF_MASK_BYTES = 4


def _utf8(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def _check_secret(secret: str | bytes) -> bytes:
    if not isinstance(secret, str | bytes):
        raise TypeError(f"secret must be str or bytes, got {type(secret).__name__}")
    if not secret:
        raise ValueError("secret must not be empty")
    return _utf8(secret)


def _check_secrets(secret: SecretTypes) -> bytes | dict[int, bytes]:
    """Validate a secret (or a key-version dict of them) once, as bytes."""
    if isinstance(secret, Mapping):
        if not secret:
            raise ValueError("secret dict must hold at least one key version")
        keys: dict[int, bytes] = {}
        for version, key in secret.items():
            if isinstance(version, bool) or not isinstance(version, int):
                raise TypeError(f"secret dict keys must be int key versions, got {version!r}")
            keys[version] = _check_secret(key)
        return keys
    return _check_secret(secret)


def _signature_v1(secret: bytes, *parts: bytes) -> bytes:
    mac = hmac.new(secret, digestmod=hashlib.sha1)
    for part in parts:
        mac.update(part)
    return mac.hexdigest().encode("ascii")


def _signature_v2(secret: bytes, signed: bytes) -> bytes:
    return hmac.new(secret, signed, digestmod=hashlib.sha256).hexdigest().encode("ascii")


def _field(data: bytes) -> bytes:
    # Tornado writes len() of the *str* name, which breaks for non-ASCII names (its own
    # decoder then rejects them); a byte count is what both decoders actually read.
    return b"%d:%s" % (len(data), data)


def create_signed_value(
    secret: SecretTypes,
    name: str,
    value: str | bytes,
    version: int | None = None,
    clock: Callable[[], float] | None = None,
    key_version: int | None = None,
) -> bytes:
    """Sign and timestamp ``value`` under ``name``, in Tornado's format.

    v2 (the default) is ``2|1:<key version>|<n>:<timestamp>|<n>:<name>|<n>:<base64
    value>|<hex HMAC-SHA256>``; v1 is ``<base64 value>|<timestamp>|<hex HMAC-SHA1>``.
    With a dict ``secret`` (key rotation), ``key_version`` picks the signing key and is
    recorded in the value so :func:`decode_signed_value` can find it again.
    """
    if version is None:
        version = DEFAULT_SIGNED_VALUE_VERSION
    if version not in (1, 2):
        raise ValueError(f"unsupported signed value version: {version!r}")
    if key_version is not None and (
        isinstance(key_version, bool) or not isinstance(key_version, int) or key_version < 0
    ):
        raise ValueError(f"key_version must be a non-negative int, got {key_version!r}")
    keys = _check_secrets(secret)
    if clock is None:
        clock = time.time
    timestamp = b"%d" % int(clock())
    encoded = base64.b64encode(_utf8(value))

    if version == 1:
        if isinstance(keys, dict):
            raise ValueError("a secret dict (key rotation) needs signed value version 2")
        if key_version is not None:
            raise ValueError("key_version needs signed value version 2")
        signature = _signature_v1(keys, name.encode("utf-8"), encoded, timestamp)
        return b"|".join([encoded, timestamp, signature])

    if isinstance(keys, dict):
        if key_version is None:
            raise ValueError("key_version is required when secret is a dict")
        try:
            key = keys[key_version]
        except KeyError:
            raise ValueError(f"key_version {key_version} is not in the secret dict") from None
    else:
        key = keys
    to_sign = b"|".join(
        [
            b"2",
            _field(b"%d" % (key_version or 0)),
            _field(timestamp),
            _field(name.encode("utf-8")),
            _field(encoded),
            b"",
        ]
    )
    return to_sign + _signature_v2(key, to_sign)


def _version_of(value: bytes) -> int:
    match = _VERSION_RE.match(value)
    if match is None:
        return 1
    prefix = match.group(1)
    return 1 if len(prefix) > len(str(_MAX_VERSION)) else int(prefix)


def _take_field(data: bytes) -> tuple[bytes, bytes] | None:
    """Split ``<n>:<n bytes>|rest`` into ``(field, rest)``; None if malformed."""
    length, colon, rest = data.partition(b":")
    # Digits only: no sign, spaces or underscores; and never a huge number to convert.
    if not colon or not length.isdigit() or len(length) > len(str(len(rest))):
        return None
    size = int(length)
    if rest[size : size + 1] != b"|":
        return None
    return rest[:size], rest[size + 1 :]


def _fields_v2(value: bytes) -> tuple[int, bytes, bytes, bytes, bytes] | None:
    """``(key version, timestamp, name, base64 value, signature)`` of a v2 value."""
    rest = value[2:]  # "2|"
    fields: list[bytes] = []
    for _ in range(4):
        taken = _take_field(rest)
        if taken is None:
            return None
        field, rest = taken
        fields.append(field)
    key_version, timestamp, name, encoded = fields
    if not key_version.isdigit():
        return None
    return int(key_version), timestamp, name, encoded, rest


def _b64decode(data: bytes) -> bytes | None:
    try:
        return base64.b64decode(data, validate=True)
    except binascii.Error:
        return None


def _as_bytes(value: str | bytes) -> bytes | None:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        try:
            return value.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates
            return None
    raise TypeError(f"signed value must be str, bytes or None, got {type(value).__name__}")


def decode_signed_value(
    secret: SecretTypes,
    name: str,
    value: str | bytes | None,
    max_age_days: float = 31,
    clock: Callable[[], float] | None = None,
    min_version: int | None = None,
) -> bytes | None:
    """The original value if ``value`` is validly signed for ``name`` and younger than
    ``max_age_days``; otherwise None (whatever the input, this never raises for it).

    Reads v1 and v2 values; ``min_version=2`` refuses v1. With a dict ``secret`` the
    key version recorded in the value selects the key (v1 values have none: None).
    """
    if min_version is None:
        min_version = DEFAULT_SIGNED_VALUE_MIN_VERSION
    if min_version not in (1, 2):
        raise ValueError(f"unsupported min_version: {min_version!r}")
    keys = _check_secrets(secret)
    if clock is None:
        clock = time.time
    if value is None:
        return None
    data = _as_bytes(value)
    if not data:
        return None
    version = _version_of(data)
    if version < min_version:
        return None
    if version == 1:
        if isinstance(keys, dict):
            return None
        return _decode_v1(keys, name, data, max_age_days, clock)
    if version == 2:
        return _decode_v2(keys, name, data, max_age_days, clock)
    return None


def _decode_v1(
    key: bytes, name: str, data: bytes, max_age_days: float, clock: Callable[[], float]
) -> bytes | None:
    parts = data.split(b"|")
    if len(parts) != 3:
        return None
    encoded, timestamp, signature = parts
    expected = _signature_v1(key, name.encode("utf-8"), encoded, timestamp)
    if not hmac.compare_digest(signature, expected):
        return None
    # A leading zero is how a digit moved from the value into the timestamp shows.
    if not timestamp.isdigit() or timestamp.startswith(b"0"):
        return None
    seconds = int(timestamp)
    now = clock()
    if seconds < now - max_age_days * _SECONDS_PER_DAY:
        return None
    if seconds > now + _V1_MAX_FUTURE_DAYS * _SECONDS_PER_DAY:
        return None
    return _b64decode(encoded)


def _decode_v2(
    keys: bytes | dict[int, bytes],
    name: str,
    data: bytes,
    max_age_days: float,
    clock: Callable[[], float],
) -> bytes | None:
    fields = _fields_v2(data)
    if fields is None:
        return None
    key_version, timestamp, name_field, encoded, signature = fields
    if isinstance(keys, dict):
        key = keys.get(key_version)
        if key is None:
            return None
    else:
        key = keys
    expected = _signature_v2(key, data[: len(data) - len(signature)])
    if not hmac.compare_digest(signature, expected):
        return None
    if name_field != name.encode("utf-8"):
        return None
    if not timestamp.isdigit():
        return None
    if int(timestamp) < clock() - max_age_days * _SECONDS_PER_DAY:
        return None
    return _b64decode(encoded)


def get_signature_key_version(value: str | bytes | None) -> int | None:
    """The key version recorded in a v2 signed value; None for v1 or malformed input.

    Read before verifying: use it to decide whether to re-sign with the current key,
    never as proof of anything.
    """
    if value is None:
        return None
    data = _as_bytes(value)
    if not data or _version_of(data) != 2:
        return None
    fields = _fields_v2(data)
    return None if fields is None else fields[0]


def _mask(mask: bytes, data: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` repeated (RFC 6455 §5.3, as Tornado)."""
    repeated = (mask * (len(data) // len(mask) + 1))[: len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")).to_bytes(
        len(data), "big"
    )


def encode_xsrf_token(token: bytes, timestamp: float, mask: bytes | None = None) -> bytes:
    """Tornado's v2 XSRF token: ``2|<mask hex>|<masked token hex>|<timestamp>``.

    A fresh random 4-byte mask per page keeps the token from repeating in compressed
    responses (the BREACH attack); ``mask`` is for tests.
    """
    if not isinstance(token, bytes) or not token:
        raise ValueError("xsrf token must be non-empty bytes")
    if mask is None:
        mask = os.urandom(_XSRF_MASK_BYTES)
    elif len(mask) != _XSRF_MASK_BYTES:
        raise ValueError(f"xsrf mask must be {_XSRF_MASK_BYTES} bytes, got {len(mask)}")
    return b"|".join(
        [b"2", binascii.hexlify(mask), binascii.hexlify(_mask(mask, token)), b"%d" % int(timestamp)]
    )


def decode_xsrf_token(
    cookie_or_arg: str | bytes, *, clock: Callable[[], float] | None = None
) -> tuple[int | None, bytes | None, float | None]:
    """``(version, raw token, timestamp)`` from an XSRF cookie or form argument.

    Reads v2 (:func:`encode_xsrf_token`) and v1 (a bare token: hex, else taken as is;
    its timestamp is unknown, so "now" from ``clock`` stands in, as in Tornado).
    Anything unreadable, including an empty value or token, gives ``(None, None, None)``.
    """
    if not isinstance(cookie_or_arg, str | bytes):
        raise TypeError(f"xsrf token must be str or bytes, got {type(cookie_or_arg).__name__}")
    data = _as_bytes(cookie_or_arg)
    if not data:
        return None, None, None
    if _VERSION_RE.match(data) is None:
        try:
            token = binascii.unhexlify(data)
        except binascii.Error:
            token = data
        return 1, token, int((clock or time.time)())
    parts = data.split(b"|")
    # Tornado treats any other version, or a v2 token of the wrong shape, as absent.
    if parts[0] != b"2" or len(parts) != 4:
        return None, None, None
    _, mask_hex, masked_hex, timestamp_text = parts
    try:
        mask = binascii.unhexlify(mask_hex)
        masked = binascii.unhexlify(masked_hex)
        # int() syntax as Tornado accepts it, on ASCII text only.
        timestamp = int(timestamp_text.decode("ascii"))
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        return None, None, None
    # An empty token can never pass a check. Tornado returns it anyway, which pins a
    # visitor to a cookie that fails every form; reading it as absent lets the caller
    # issue a fresh token instead.
    if len(mask) != _XSRF_MASK_BYTES or not masked:
        return None, None, None
    return 2, _mask(mask, masked), timestamp


def xsrf_tokens_match(a: bytes, b: bytes) -> bool:
    """Constant-time equality of two raw tokens; an empty token never matches."""
    return bool(a) and bool(b) and hmac.compare_digest(a, b)
