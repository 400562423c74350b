"""Signed values and XSRF tokens: our own behaviour, then differential tests against Tornado."""

from __future__ import annotations

import binascii
import hashlib
import hmac
import urllib.parse
from collections.abc import Callable

import pytest
import tornado.httputil
import tornado.web

from tornadoish.security import (
    SecretTypes,
    create_signed_value,
    decode_signed_value,
    decode_xsrf_token,
    encode_xsrf_token,
    get_signature_key_version,
    xsrf_tokens_match,
)

SECRET = "It's a secret to everybody"
NOW = 1300000000
DAY = 86400
KEYS: dict[int, str] = {0: "old secret", 1: "new secret", 7: "rotated"}
KNOWN_V2 = (
    b"2|1:0|10:1300000000|3:key|8:dmFsdWU=|"
    b"3d4e60b996ff9c5d5788e333a0cba6f238a22c6c0f94788870e1a9ecd482e152"
)


def at(seconds: float) -> Callable[[], float]:
    return lambda: seconds


def sign(value: str | bytes = "value", **kwargs: object) -> bytes:
    kwargs.setdefault("clock", at(NOW))
    return create_signed_value(SECRET, "key", value, **kwargs)  # type: ignore[arg-type]


def decode(value: str | bytes | None, **kwargs: object) -> bytes | None:
    kwargs.setdefault("clock", at(NOW))
    return decode_signed_value(SECRET, "key", value, **kwargs)  # type: ignore[arg-type]


# --- signed values ------------------------------------------------------------------


def test_known_v2_vector_is_reproduced_byte_for_byte() -> None:
    assert sign() == KNOWN_V2


def test_known_v2_vector_decodes() -> None:
    assert decode(KNOWN_V2) == b"value"
    assert decode(KNOWN_V2.decode("ascii")) == b"value"


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize(
    "value", ["value", b"", b"\x00\xff binary", "caf\u00e9 \u2603", "a|b|c", "x" * 5000]
)
def test_signed_values_round_trip(version: int, value: str | bytes) -> None:
    expected = value.encode("utf-8") if isinstance(value, str) else value
    assert decode(sign(value, version=version)) == expected


def test_v1_format_is_base64_timestamp_and_sha1_hex() -> None:
    encoded, timestamp, signature = sign(version=1).split(b"|")
    assert (encoded, timestamp) == (b"dmFsdWU=", b"1300000000")
    assert len(signature) == 40
    int(signature, 16)


def test_min_version_2_refuses_v1_values() -> None:
    assert decode(sign(version=1), min_version=2) is None
    assert decode(sign(version=2), min_version=2) == b"value"


def test_key_rotation_signs_with_the_chosen_key_and_decodes_with_the_recorded_one() -> None:
    for key_version in KEYS:
        signed = create_signed_value(KEYS, "key", "v", clock=at(NOW), key_version=key_version)
        assert signed.startswith(b"2|1:%d|" % key_version)
        assert get_signature_key_version(signed) == key_version
        assert decode_signed_value(KEYS, "key", signed, clock=at(NOW)) == b"v"
        assert decode_signed_value(KEYS[key_version], "key", signed, clock=at(NOW)) == b"v"


def test_key_rotation_rejects_a_retired_key_version() -> None:
    signed = create_signed_value(KEYS, "key", "v", clock=at(NOW), key_version=7)
    retired = {k: v for k, v in KEYS.items() if k != 7}
    assert decode_signed_value(retired, "key", signed, clock=at(NOW)) is None


def test_key_rotation_rejects_a_value_signed_with_another_version_s_key() -> None:
    signed = create_signed_value(KEYS[0], "key", "v", clock=at(NOW), key_version=1)
    assert decode_signed_value(KEYS, "key", signed, clock=at(NOW)) is None


def test_dict_secret_cannot_verify_v1_values() -> None:
    signed = create_signed_value(KEYS[0], "key", "v", version=1, clock=at(NOW))
    assert decode_signed_value(KEYS, "key", signed, clock=at(NOW)) is None


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize(
    ("age_days", "max_age_days", "valid"),
    [(0, 31, True), (30.9, 31, True), (31.1, 31, False), (2, 1, False), (0.5, 1, True)],
)
def test_values_expire_after_max_age_days(
    version: int, age_days: float, max_age_days: float, valid: bool
) -> None:
    signed = sign(version=version)
    result = decode(signed, clock=at(NOW + age_days * DAY), max_age_days=max_age_days)
    assert result == (b"value" if valid else None)


def test_v1_values_from_the_far_future_are_rejected() -> None:
    signed = sign(version=1, clock=at(NOW + 32 * DAY))
    assert decode(signed) is None
    assert decode(sign(version=1, clock=at(NOW + 30 * DAY))) == b"value"


def test_v1_timestamp_with_leading_zero_is_tampering() -> None:
    # Moving a digit from the payload into the timestamp keeps a v1 signature valid.
    encoded, timestamp, _ = sign(version=1).split(b"|")
    forged_ts = b"0" + timestamp
    mac = hmac.new(SECRET.encode(), b"key" + encoded + forged_ts, hashlib.sha1).hexdigest()
    assert decode(b"|".join([encoded, forged_ts, mac.encode()])) is None


@pytest.mark.parametrize("version", [1, 2])
def test_wrong_name_is_rejected(version: int) -> None:
    signed = sign(version=version)
    assert decode_signed_value(SECRET, "other", signed, clock=at(NOW)) is None


@pytest.mark.parametrize("version", [1, 2])
def test_wrong_secret_is_rejected(version: int) -> None:
    signed = sign(version=version)
    assert decode_signed_value("another secret", "key", signed, clock=at(NOW)) is None


def _v2_fields(signed: bytes) -> list[bytes]:
    return signed.split(b"|")


@pytest.mark.parametrize(
    ("index", "replacement"),
    [
        (1, b"1:1"),  # key version
        (2, b"10:1300000001"),  # timestamp
        (3, b"3:kez"),  # name
        (4, b"8:dmFsdWF="),  # value
        (5, b"3d4e60b996ff9c5d5788e333a0cba6f238a22c6c0f94788870e1a9ecd482e153"),  # signature
        (5, b"3D4E60B996FF9C5D5788E333A0CBA6F238A22C6C0F94788870E1A9ECD482E152"),  # hex case
        (5, b""),  # no signature
    ],
)
def test_tampering_with_any_v2_field_is_rejected(index: int, replacement: bytes) -> None:
    fields = _v2_fields(KNOWN_V2)
    fields[index] = replacement
    assert decode(b"|".join(fields)) is None


@pytest.mark.parametrize("index", [0, 1, 2])
def test_tampering_with_any_v1_field_is_rejected(index: int) -> None:
    fields = sign(version=1).split(b"|")
    fields[index] = fields[index][:-1] + (b"A" if fields[index][-1:] != b"A" else b"B")
    assert decode(b"|".join(fields)) is None


GARBAGE: list[str | bytes | None] = [
    None,
    "",
    b"",
    "2|",
    b"2|1:0",
    b"2||||||",
    b"2|x:0|10:1300000000|3:key|8:dmFsdWU=|sig",
    b"2|1:0|10:1300000000|-3:key|8:dmFsdWU=|sig",
    b"2|1:0|10:1300000000|+3:key|8:dmFsdWU=|sig",
    b"2|1:0|99999999999999999999999999:1300000000|3:key|8:dmFsdWU=|sig",
    b"2|1:0|" + b"9" * 10000 + b":1|3:key|8:dmFsdWU=|sig",
    b"2|1:0|10:1300000000|3:key|8:dmFsdWU=",
    b"2|1:0|10:1300000000|3:key|80:dmFsdWU=|sig",
    b"2|1:0|10:1300000000|3:keyy|8:dmFsdWU=|sig",
    b"2|1:x|10:1300000000|3:key|8:dmFsdWU=|sig",
    b"3|1:0|10:1300000000|3:key|8:dmFsdWU=|sig",
    b"999|whatever",
    b"0|1:0|10:1300000000|3:key|8:dmFsdWU=|sig",
    b"|||",
    b"dmFsdWU=|1300000000",
    b"dmFsdWU=|1300000000|",
    b"dmFsdWU=|abc|sig|extra",
    "caf\u00e9|\u2603|\U0001f600",
    "2|1:0|10:1300000000|3:k\u00e9y|8:dmFsdWU=|sig",
    "\ud800",
    b"\xff\xfe\x00",
    b"\n",
    KNOWN_V2 + b"\n",
    b" " + KNOWN_V2,
    KNOWN_V2.replace(b"|", b"\n"),
]


@pytest.mark.parametrize("value", GARBAGE)
@pytest.mark.parametrize("secret", [SECRET, KEYS], ids=["single", "dict"])
def test_garbage_decodes_to_none_without_raising(
    value: str | bytes | None, secret: SecretTypes
) -> None:
    assert decode_signed_value(secret, "key", value, clock=at(NOW)) is None
    assert decode_signed_value(secret, "key", value, clock=at(NOW), min_version=2) is None


@pytest.mark.parametrize("value", [v for v in GARBAGE if v != KNOWN_V2 + b"\n"])
def test_garbage_has_no_key_version(value: str | bytes | None) -> None:
    assert get_signature_key_version(value) is None


def test_key_version_of_v1_value_is_none() -> None:
    assert get_signature_key_version(sign(version=1)) is None
    assert get_signature_key_version(KNOWN_V2) == 0


def test_invalid_base64_under_a_valid_signature_decodes_to_none() -> None:
    body = b"2|1:0|10:1300000000|3:key|5:d$$$$|"
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest().encode()
    assert decode(body + signature) is None


@pytest.mark.parametrize(
    ("secret", "kwargs", "message"),
    [
        ("", {}, "secret must not be empty"),
        (b"", {}, "secret must not be empty"),
        ({}, {"key_version": 0}, "at least one key version"),
        ({0: ""}, {"key_version": 0}, "secret must not be empty"),
        (KEYS, {}, "key_version is required"),
        (KEYS, {"key_version": 3}, "key_version 3 is not in the secret dict"),
        (KEYS, {"key_version": 0, "version": 1}, "needs signed value version 2"),
        (SECRET, {"key_version": 0, "version": 1}, "key_version needs signed value version 2"),
        (SECRET, {"key_version": -1}, "non-negative int"),
        (SECRET, {"version": 3}, "unsupported signed value version"),
    ],
)
def test_create_rejects_configuration_mistakes(
    secret: SecretTypes, kwargs: dict[str, int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        create_signed_value(secret, "key", "v", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("secret", "min_version", "message"),
    [
        ("", None, "secret must not be empty"),
        ({}, None, "at least one key version"),
        (SECRET, 3, "unsupported min_version"),
        (SECRET, 0, "unsupported min_version"),
    ],
)
def test_decode_rejects_configuration_mistakes(
    secret: SecretTypes, min_version: int | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        decode_signed_value(secret, "key", KNOWN_V2, min_version=min_version)


def test_secret_dict_may_mix_str_and_bytes_keys() -> None:
    keys: dict[int, str | bytes] = {0: "zero", 1: b"one"}
    for key_version in keys:
        signed = create_signed_value(keys, "key", "v", clock=at(NOW), key_version=key_version)
        assert decode_signed_value(keys, "key", signed, clock=at(NOW)) == b"v"


def test_non_int_key_in_secret_dict_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="int key versions"):
        create_signed_value({"0": "s"}, "key", "v", key_version=0)  # type: ignore[dict-item]


def test_non_string_value_is_a_type_error_not_none() -> None:
    with pytest.raises(TypeError, match="str, bytes or None"):
        decode_signed_value(SECRET, "key", 42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="xsrf token must be str or bytes"):
        decode_xsrf_token(None)  # type: ignore[arg-type]


def test_non_string_secret_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="secret must be str or bytes"):
        create_signed_value(42, "key", "v")  # type: ignore[arg-type]


def test_non_digit_timestamp_under_a_valid_signature_decodes_to_none() -> None:
    body = b"2|1:0|4:soon|3:key|8:dmFsdWU=|"
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest().encode()
    assert decode(body + signature) is None


def test_non_ascii_name_uses_byte_lengths() -> None:
    # Tornado writes the character count here, which its own decoder cannot read back.
    signed = create_signed_value(SECRET, "caf\u00e9", "v", clock=at(NOW))
    assert b"|5:caf\xc3\xa9|" in signed
    assert decode_signed_value(SECRET, "caf\u00e9", signed, clock=at(NOW)) == b"v"
    assert tornado.web.decode_signed_value(SECRET, "caf\u00e9", signed, clock=at(NOW)) == b"v"


# --- signed values: differential against Tornado ------------------------------------

DIFF_VALUES: list[str | bytes] = ["value", b"", b"\x00\x01\xfe\xff", "caf\u00e9", "x" * 300]


@pytest.mark.parametrize("value", DIFF_VALUES)
@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("secret", [SECRET, SECRET.encode()])
def test_tornado_and_we_sign_identically_and_read_each_other(
    value: str | bytes, version: int, secret: str | bytes
) -> None:
    theirs = tornado.web.create_signed_value(secret, "key", value, version=version, clock=at(NOW))
    ours = create_signed_value(secret, "key", value, version=version, clock=at(NOW))
    assert ours == theirs
    expected = value.encode("utf-8") if isinstance(value, str) else value
    assert decode_signed_value(secret, "key", theirs, clock=at(NOW)) == expected
    assert tornado.web.decode_signed_value(secret, "key", ours, clock=at(NOW)) == expected


@pytest.mark.parametrize("key_version", sorted(KEYS))
def test_tornado_and_we_agree_on_key_versioned_values(key_version: int) -> None:
    theirs = tornado.web.create_signed_value(
        KEYS, "key", "v", clock=at(NOW), key_version=key_version
    )
    ours = create_signed_value(KEYS, "key", "v", clock=at(NOW), key_version=key_version)
    assert ours == theirs
    assert decode_signed_value(KEYS, "key", theirs, clock=at(NOW)) == b"v"
    assert tornado.web.decode_signed_value(KEYS, "key", ours, clock=at(NOW)) == b"v"
    assert get_signature_key_version(theirs) == tornado.web.get_signature_key_version(ours)


@pytest.mark.parametrize("value", [v for v in GARBAGE if v is not None and v != "\ud800"])
def test_tornado_also_rejects_our_garbage(value: str | bytes) -> None:
    assert tornado.web.decode_signed_value(SECRET, "key", value, clock=at(NOW)) is None


@pytest.mark.parametrize("age_days", [0, 30, 32])
def test_tornado_and_we_agree_on_expiry(age_days: int) -> None:
    signed = sign()
    clock = at(NOW + age_days * DAY)
    assert decode(signed, clock=clock) == tornado.web.decode_signed_value(
        SECRET, "key", signed, clock=clock
    )


# --- XSRF tokens -----------------------------------------------------------------------

TOKEN = bytes(range(16))
MASK = b"\x01\x02\x03\x04"


def test_xsrf_token_v2_format_with_fixed_mask() -> None:
    encoded = encode_xsrf_token(TOKEN, 1700000000.9, mask=MASK)
    version, mask_hex, masked_hex, timestamp = encoded.split(b"|")
    assert (version, mask_hex, timestamp) == (b"2", b"01020304", b"1700000000")
    masked = binascii.unhexlify(masked_hex)
    assert bytes(b ^ MASK[i % 4] for i, b in enumerate(masked)) == TOKEN


def test_xsrf_token_round_trips_with_a_random_mask() -> None:
    first = encode_xsrf_token(TOKEN, NOW)
    second = encode_xsrf_token(TOKEN, NOW)
    assert decode_xsrf_token(first) == (2, TOKEN, NOW)
    assert decode_xsrf_token(second.decode("ascii")) == (2, TOKEN, NOW)


@pytest.mark.parametrize(
    ("value", "token"),
    [
        ("000102030405060708090a0b0c0d0e0f", TOKEN),
        ("000102030405060708090A0B0C0D0E0F", TOKEN),
        ("not hex at all", b"not hex at all"),
        ("abc", b"abc"),  # odd length: taken as is
        ("caf\u00e9", "caf\u00e9".encode()),
    ],
)
def test_v1_xsrf_token_is_bare_hex_or_raw(value: str, token: bytes) -> None:
    assert decode_xsrf_token(value, clock=at(NOW + 0.5)) == (1, token, NOW)


@pytest.mark.parametrize(
    "value",
    [
        "",
        b"",
        "2|",
        "2|01020304|00|",
        "2|01020304|0001|12|extra",
        "2|010203|0001|12",  # 3-byte mask
        "2|0102030405|0001|12",  # 5-byte mask
        "2|zz020304|0001|12",
        "2|01020304|zz|12",
        "2|01020304|000|12",  # odd hex
        "2|01020304|0001|soon",
        "2|01020304|0001|1\u0662",
        "3|01020304|0001|12",
        "1|anything",
        "12|x",
        "\ud800",
    ],
)
def test_invalid_xsrf_tokens_decode_to_nones(value: str | bytes) -> None:
    assert decode_xsrf_token(value) == (None, None, None)


def test_v2_xsrf_token_with_an_empty_token_reads_as_absent() -> None:
    # Tornado returns (2, b"", 12): a cookie that then fails every check and is never
    # replaced. Reading it as absent makes the handler issue a fresh token.
    assert decode_xsrf_token("2|01020304||12") == (None, None, None)
    assert tornado_handler()._decode_xsrf_token("2|01020304||12") == (2, b"", 12)


@pytest.mark.parametrize(
    ("a", "b", "match"),
    [
        (TOKEN, TOKEN, True),
        (TOKEN, TOKEN[:-1], False),
        (TOKEN, b"x" * 16, False),
        (b"", b"", False),
    ],
)
def test_xsrf_tokens_match(a: bytes, b: bytes, match: bool) -> None:
    assert xsrf_tokens_match(a, b) is match


@pytest.mark.parametrize(
    ("token", "mask", "message"),
    [(b"", None, "non-empty"), (TOKEN, b"\x01", "4 bytes"), (TOKEN, b"12345", "4 bytes")],
)
def test_encode_xsrf_token_rejects_mistakes(token: bytes, mask: bytes | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        encode_xsrf_token(token, NOW, mask=mask)


# --- XSRF tokens: differential against Tornado's RequestHandler ------------------------


class _Connection:
    def set_close_callback(self, callback: object) -> None:
        pass


_APP = tornado.web.Application(cookie_secret=SECRET)


def tornado_handler(
    cookie: str | None = None, argument: str | None = None
) -> tornado.web.RequestHandler:
    headers = tornado.httputil.HTTPHeaders({"Host": "example.com"})
    if cookie is not None:
        headers["Cookie"] = "_xsrf=" + cookie
    uri = "/" if argument is None else "/?" + urllib.parse.urlencode({"_xsrf": argument})
    request = tornado.httputil.HTTPServerRequest(
        start_line=tornado.httputil.RequestStartLine("POST", uri, "HTTP/1.1"),
        headers=headers,
        connection=_Connection(),  # type: ignore[arg-type]
    )
    return tornado.web.RequestHandler(_APP, request)


def test_tornado_xsrf_tokens_decode_to_tornado_raw_token() -> None:
    for _ in range(20):
        handler = tornado_handler()
        token = handler.xsrf_token
        _, raw, timestamp = handler._get_raw_xsrf_token()
        assert decode_xsrf_token(token) == (2, raw, int(timestamp))
        assert decode_xsrf_token(token.decode("ascii")) == (2, raw, int(timestamp))


def test_our_xsrf_tokens_are_read_by_tornado_and_pass_its_check() -> None:
    ours = encode_xsrf_token(TOKEN, NOW).decode("ascii")
    other_mask = encode_xsrf_token(TOKEN, NOW).decode("ascii")
    handler = tornado_handler(cookie=ours, argument=other_mask)
    assert handler._get_raw_xsrf_token() == (2, TOKEN, NOW)
    handler.check_xsrf_cookie()


def test_tornado_and_we_encode_identically_with_the_same_mask() -> None:
    handler = tornado_handler(cookie=encode_xsrf_token(TOKEN, NOW).decode("ascii"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("os.urandom", lambda n: MASK)
        theirs = handler.xsrf_token
    assert theirs == encode_xsrf_token(TOKEN, NOW, mask=MASK)


@pytest.mark.parametrize(
    "value",
    [
        "000102030405060708090a0b0c0d0e0f",
        "not hex",
        "abc",
        "2|01020304|0001|12",
        "2|01020304|0001|+12",
        "2|01020304|0001| 12 ",
        "2|0102030405|0001|12",
        "2|01020304|0001\n|12",
        "2|01020304|0001|12\n",
        "3|01020304|0001|12",
        "1|x",
        "2|a|b",
        "2|01020304|zz|12",
    ],
)
def test_tornado_and_we_decode_xsrf_values_alike(value: str) -> None:
    version, token, timestamp = tornado_handler()._decode_xsrf_token(value)
    ours = decode_xsrf_token(value, clock=at(NOW))
    assert ours[:2] == (version, token)
    if version == 2:
        assert ours[2] == timestamp
