"""Form body parsing: urlencoded and multipart, limits, and differential tests vs Tornado."""

from __future__ import annotations

import logging

import pytest
import tornado.httputil

from tornadoish.forms import (
    DEFAULT_MAX_FORM_FIELDS,
    DEFAULT_MAX_FORM_PARTS,
    DEFAULT_MAX_PART_HEADER_BYTES,
    FormError,
    parse_body_arguments,
)
from tornadoish.httputil import HTTPFile

URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data; boundary=B"

Result = tuple[dict[str, list[bytes]], dict[str, list[tuple[str, bytes, str]]]]


def part(
    name: str | None = "a",
    body: bytes = b"x",
    *,
    filename: str | None = None,
    content_type: str | None = None,
    disposition: str | None = None,
) -> bytes:
    """One multipart part (without its delimiter), UTF-8 headers as browsers send them."""
    if disposition is None:
        disposition = "form-data"
        if name is not None:
            disposition += f'; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
    headers = f"Content-Disposition: {disposition}\r\n"
    if content_type is not None:
        headers += f"Content-Type: {content_type}\r\n"
    return headers.encode("utf-8") + b"\r\n" + body


def multipart(*parts: bytes, boundary: bytes = b"B") -> bytes:
    delimiter = b"--" + boundary
    return b"".join(delimiter + b"\r\n" + p + b"\r\n" for p in parts) + delimiter + b"--\r\n"


def ours(content_type: str, body: bytes) -> Result:
    arguments, files = parse_body_arguments(content_type, body)
    return arguments, _plain_files(files)


def tornados(content_type: str, body: bytes) -> Result:
    arguments: dict[str, list[bytes]] = {}
    files: dict[str, list[tornado.httputil.HTTPFile]] = {}
    tornado.httputil.parse_body_arguments(content_type, body, arguments, files)
    plain = {
        name: [(f.filename, f.body, f.content_type) for f in values]
        for name, values in files.items()
    }
    return arguments, plain


def _plain_files(files: dict[str, list[HTTPFile]]) -> dict[str, list[tuple[str, bytes, str]]]:
    return {
        name: [(f.filename, f.body, f.content_type) for f in values]
        for name, values in files.items()
    }


# --- urlencoded --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"a=1&b=2", {"a": [b"1"], "b": [b"2"]}),
        (b"a=1&a=2&a=", {"a": [b"1", b"2", b""]}),
        (b"blank=&bare", {"blank": [b""], "bare": [b""]}),
        (b"q=a+b%20c%2B%zz", {"q": [b"a b c+%zz"]}),
        (b"bin=%00%ff", {"bin": [b"\x00\xff"]}),
        (b"&&a=1&&", {"a": [b"1"]}),
        (b"a=1;b=2", {"a": [b"1;b=2"]}),
        (b"", {}),
    ],
)
def test_urlencoded_bodies_give_bytes_arguments(
    body: bytes, expected: dict[str, list[bytes]]
) -> None:
    assert parse_body_arguments(URLENCODED, body) == (expected, {})


def test_urlencoded_names_are_utf8() -> None:
    # Tornado decodes names as latin-1 ("Ã©"); httputil.parse_qs_bytes chose UTF-8.
    arguments, _ = parse_body_arguments(URLENCODED, "%C3%A9=1&\u00fc=2".encode())
    assert arguments == {"\u00e9": [b"1"], "\u00fc": [b"2"]}


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=UTF-8",
        "Application/X-WWW-Form-Urlencoded",
        " application/x-www-form-urlencoded ;charset=utf-8",
    ],
)
def test_urlencoded_media_type_is_matched_case_insensitively(content_type: str) -> None:
    assert parse_body_arguments(content_type, b"a=1") == ({"a": [b"1"]}, {})


@pytest.mark.parametrize(
    "content_type",
    [
        "",
        "text/plain",
        "application/json",
        "application/octet-stream",
        "application/x-www-form-urlencodedxyz",
        "multipart/mixed; boundary=B",
        "multipart/form-dataxyz; boundary=B",
    ],
)
def test_other_content_types_give_empty_dicts(content_type: str) -> None:
    assert parse_body_arguments(content_type, multipart(part())) == ({}, {})
    assert parse_body_arguments(content_type, b"a=1") == ({}, {})


# --- multipart ---------------------------------------------------------------------------


def test_multipart_fields_and_files() -> None:
    body = multipart(
        part("title", b"Hello"),
        part("doc", b"%PDF-1.4\r\n\x00\xff", filename="report.pdf", content_type="application/pdf"),
        part("notes", b"line 1\r\nline 2\r\n"),
    )
    arguments, files = parse_body_arguments(MULTIPART, body)
    assert arguments == {"title": [b"Hello"], "notes": [b"line 1\r\nline 2\r\n"]}
    assert files == {"doc": [HTTPFile("report.pdf", b"%PDF-1.4\r\n\x00\xff", "application/pdf")]}
    assert files["doc"][0]["body"] == b"%PDF-1.4\r\n\x00\xff"


def test_several_values_of_one_name_keep_their_order() -> None:
    body = multipart(
        part("tag", b"1"),
        part("up", b"A", filename="a.txt"),
        part("tag", b"2"),
        part("up", b"B", filename="b.txt"),
        part("tag", b""),
    )
    arguments, files = ours(MULTIPART, body)
    assert arguments == {"tag": [b"1", b"2", b""]}
    assert files == {
        "up": [("a.txt", b"A", "application/unknown"), ("b.txt", b"B", "application/unknown")]
    }


def test_file_without_content_type_is_application_unknown() -> None:
    _, files = ours(MULTIPART, multipart(part("f", b"data", filename="f.bin")))
    assert files == {"f": [("f.bin", b"data", "application/unknown")]}


def test_empty_file_is_a_file_with_an_empty_body() -> None:
    _, files = ours(MULTIPART, multipart(part("f", b"", filename="empty.txt")))
    assert files == {"f": [("empty.txt", b"", "application/unknown")]}


def test_empty_filename_is_a_plain_argument() -> None:
    # What a browser sends for a file input left empty; Tornado makes it an argument.
    body = multipart(part("f", b"", filename="", content_type="application/octet-stream"))
    assert ours(MULTIPART, body) == ({"f": [b""]}, {})


@pytest.mark.parametrize(
    ("disposition", "filename"),
    [
        ('form-data; name="f"; filename="\u00e9t\u00e9 \u2603.txt"', "\u00e9t\u00e9 \u2603.txt"),
        ("form-data; name=\"f\"; filename*=UTF-8''%C3%A9t%C3%A9.txt", "\u00e9t\u00e9.txt"),
        ('form-data; name="f"; filename="e.txt"; filename*=UTF-8\'\'%C3%A9.txt', "\u00e9.txt"),
        ('form-data; name="f"; filename*=UTF-8\'\'%C3%A9.txt; filename="e.txt"', "\u00e9.txt"),
        ("form-data; name=\"f\"; filename*=iso-8859-1''%E9.txt", "\u00e9.txt"),
        ('form-data; name="f"; filename*0="long"; filename*1="name.txt"', "longname.txt"),
        ('form-data; name="f"; filename*0*=utf-8\'\'%C3%A9; filename*1=".txt"', "\u00e9.txt"),
        ('form-data; name="f"; filename="C:\\dir\\a.txt"', "C:\\dir\\a.txt"),
        ('form-data; name="f"; filename="say \\"hi\\".txt"', 'say "hi".txt'),
        ('form-data; name="f"; filename="a;b=c.txt"', "a;b=c.txt"),
        ("form-data; name=f; filename=plain.txt", "plain.txt"),
        ('form-data; name="f"; filename="%22q%22.txt"', "%22q%22.txt"),
        ("form-data; name=\"f\"; filename*=bogus''%E9.txt", "\u00e9.txt"),  # unknown charset
        ('form-data; name="f"; filename*=%41.txt', "A.txt"),  # no charset part
        ('form-data; name="f"; junk; filename="x.txt"', "x.txt"),  # parameter without "="
    ],
)
def test_filenames_are_decoded_like_tornado(disposition: str, filename: str) -> None:
    body = multipart(part(disposition=disposition))
    _, files = ours(MULTIPART, body)
    assert files == {"f": [(filename, b"x", "application/unknown")]}
    assert tornados(MULTIPART, body) == ({}, files)


@pytest.mark.parametrize(
    "content_type",
    [
        'multipart/form-data; boundary="B"',
        "multipart/form-data; charset=utf-8; boundary=B",
        "multipart/form-data; boundary=B; charset=utf-8",
        "multipart/form-data;boundary=B",
        "Multipart/Form-Data; boundary=B",
        "multipart/form-data; BOUNDARY=B",
    ],
)
def test_boundary_is_found_quoted_or_not(content_type: str) -> None:
    assert ours(content_type, multipart(part())) == ({"a": [b"x"]}, {})


def test_realistic_browser_boundary() -> None:
    boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW"
    body = multipart(part("a", b"1"), boundary=boundary.encode())
    assert ours(f"multipart/form-data; boundary={boundary}", body) == ({"a": [b"1"]}, {})


def test_boundary_lookalikes_inside_data_are_data() -> None:
    data = b"--B is not a delimiter\r\n--Bx\r\nneither\r\n-- B\r\n--B-"
    assert ours(MULTIPART, multipart(part("a", data))) == ({"a": [data]}, {})


def test_only_the_final_boundary_gives_empty_dicts() -> None:
    assert ours(MULTIPART, b"--B--\r\n") == ({}, {})


def test_epilogue_and_leading_crlf_are_ignored() -> None:
    # RFC 2046 §5.1.1 allows both; Tornado refuses the leading CRLF.
    body = b"\r\n" + multipart(part()) + b"epilogue"
    assert ours(MULTIPART, body) == ({"a": [b"x"]}, {})


def test_part_header_names_are_case_insensitive() -> None:
    body = multipart(
        b'content-disposition: form-data; name="f"; filename="x"\r\n'
        b"CONTENT-TYPE: text/plain\r\n\r\nbody"
    )
    assert ours(MULTIPART, body) == ({}, {"f": [("x", b"body", "text/plain")]})


def test_content_disposition_type_is_case_insensitive() -> None:
    # RFC 6266 §4.1; Tornado only accepts the lower-case spelling.
    assert ours(MULTIPART, multipart(part(disposition='Form-Data; name="a"'))) == (
        {"a": [b"x"]},
        {},
    )


# --- differential: well-formed bodies give what Tornado gives ----------------------------

WELL_FORMED: list[tuple[str, bytes]] = [
    (URLENCODED, b"a=1&b=2&a=3"),
    (URLENCODED, b"blank=&bare&&x=%41+%42"),
    (URLENCODED, b""),
    (URLENCODED + "; charset=utf-8", b"a=1"),
    ("text/plain", b"a=1"),
    ("application/json", b'{"a": 1}'),
    (MULTIPART, multipart(part("a", b"1"), part("b", b""), part("a", b"2"))),
    (MULTIPART, multipart(part("f", b"\x00\xff\r\n", filename="f.bin", content_type="image/png"))),
    (MULTIPART, multipart(part("f", b"", filename="empty"), part("g", b"", filename=""))),
    (MULTIPART, multipart(part("\u00e9", b"v", filename="\u00fc.txt"))),
    (MULTIPART, multipart(part("a;b", b"v"))),
    (MULTIPART, multipart(part(disposition='form-data ; NAME = "a" ; Filename="f"'))),
    (MULTIPART, multipart(part("f", filename="f", content_type="text/plain; charset=utf-8"))),
    (MULTIPART, b"--B--\r\n"),
    (MULTIPART, multipart(part()) + b"trailing epilogue"),
    ('multipart/form-data; boundary="B"', multipart(part())),
    ("multipart/form-data; charset=utf-8; boundary=B", multipart(part())),
    (
        "multipart/form-data; boundary=----WebKitFormBoundaryAbC123",
        multipart(part(), boundary=b"----WebKitFormBoundaryAbC123"),
    ),
    (MULTIPART, multipart(*(part(f"p{i}") for i in range(DEFAULT_MAX_FORM_PARTS - 1)))),
]


@pytest.mark.parametrize(("content_type", "body"), WELL_FORMED)
def test_well_formed_bodies_parse_as_tornado_parses_them(content_type: str, body: bytes) -> None:
    assert ours(content_type, body) == tornados(content_type, body)


# --- malformed bodies --------------------------------------------------------------------

MALFORMED: list[tuple[str, bytes, str]] = [
    ("multipart/form-data", multipart(part()), "boundary not found"),
    ("multipart/form-data; boundary=", multipart(part()), "boundary not found"),
    ('multipart/form-data; boundary=""', multipart(part()), "boundary not found"),
    (MULTIPART, b"", "no final boundary"),
    (MULTIPART, b"--B\r\n", "no final boundary"),
    (MULTIPART, multipart(part())[: -len(b"--\r\n")], "no final boundary"),
    (MULTIPART, b"--B\r\n" + part() + b"--B--", "no final boundary"),  # no CRLF before it
    (MULTIPART, b"garbage", "malformed"),
    (MULTIPART, b"preamble\r\n" + multipart(part()), "malformed"),
    (MULTIPART, multipart(part(), boundary=b"C"), "malformed"),
    (MULTIPART, multipart(part()).replace(b"\r\n", b"\n"), "malformed"),
    (MULTIPART, multipart(b"no colon\r\n" + part()), "malformed"),
    (MULTIPART, multipart(b"\r\nbody without headers"), "one Content-Disposition"),
    (MULTIPART, multipart(part(name=None)), "no name"),
    (MULTIPART, multipart(part(name="")), "no name"),
    (MULTIPART, multipart(part(disposition='attachment; name="a"')), "Content-Disposition"),
    (MULTIPART, multipart(part(disposition='inline; name="a"')), "Content-Disposition"),
    (MULTIPART, multipart(b"Content-Disposition: form-data; name=\xff\r\n\r\nx"), "not UTF-8"),
    (MULTIPART, multipart(b"X-Other: \xc3\x28\r\n" + part()), "not UTF-8"),
    (
        "multipart/form-data; boundary=" + "B" * 300,
        multipart(part(), boundary=b"B" * 300),
        "boundary",
    ),
    ("multipart/form-data; boundary=\u2603", multipart(part()), "boundary"),
]


@pytest.mark.parametrize(("content_type", "body", "message"), MALFORMED)
def test_malformed_bodies_raise_form_error(content_type: str, body: bytes, message: str) -> None:
    with pytest.raises(FormError, match=message):
        parse_body_arguments(content_type, body)


# Malformed bodies that Tornado 6.6 also refuses (older Tornado logged a warning and
# went on with whatever it had parsed; we refuse them all).
TORNADO_ALSO_REFUSES = [
    (content_type, body)
    for content_type, body, _ in MALFORMED
    # Tornado has no boundary length limit (RFC 2046 §5.1.1 says at most 70).
    if not content_type.endswith("B" * 300)
]


@pytest.mark.parametrize(("content_type", "body"), TORNADO_ALSO_REFUSES)
def test_tornado_also_refuses_the_malformed_bodies(content_type: str, body: bytes) -> None:
    with pytest.raises(tornado.httputil.HTTPInputError):
        tornados(content_type, body)


@pytest.mark.parametrize(
    "body",
    [
        # Two Content-Disposition headers: Tornado joins them and uses the last name.
        multipart(b'Content-Disposition: form-data; name="b"\r\n' + part()),
        # A delimiter straight after a delimiter (a part with no blank line): Tornado
        # yields an empty value for the previous part.
        b"--B\r\n" + part() + b"\r\n--B\r\n--B--\r\n",
    ],
)
def test_bodies_tornado_tolerates_but_we_refuse(body: bytes) -> None:
    tornados(MULTIPART, body)
    with pytest.raises(FormError):
        parse_body_arguments(MULTIPART, body)


def test_form_error_is_a_value_error_with_a_short_public_message() -> None:
    with pytest.raises(ValueError, match="malformed multipart body") as caught:
        parse_body_arguments(MULTIPART, b"garbage")
    assert isinstance(caught.value, FormError)
    assert len(str(caught.value)) < 60


def test_malformed_multipart_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(FormError):
        parse_body_arguments(MULTIPART, b"--B\r\nbad header\r\n\r\nx\r\n--B--")
    assert caplog.records == []


# --- limits ------------------------------------------------------------------------------


def test_default_limits_are_tornados() -> None:
    assert DEFAULT_MAX_FORM_FIELDS == 1000
    assert DEFAULT_MAX_FORM_PARTS == 100
    assert DEFAULT_MAX_PART_HEADER_BYTES == 10 * 1024


@pytest.mark.parametrize(("fields", "ok"), [(1000, True), (1001, False)])
def test_urlencoded_field_count_is_limited(fields: int, ok: bool) -> None:
    body = b"&".join(b"a=%d" % i for i in range(fields))
    if ok:
        assert len(parse_body_arguments(URLENCODED, body)[0]["a"]) == fields
    else:
        with pytest.raises(FormError, match="too many form fields"):
            parse_body_arguments(URLENCODED, body)


def test_urlencoded_field_limit_counts_separators_like_tornado() -> None:
    body = b"a=1" + b"&" * 9
    with pytest.raises(FormError):
        parse_body_arguments(URLENCODED, body, max_fields=9)
    assert parse_body_arguments(URLENCODED, body, max_fields=10) == ({"a": [b"1"]}, {})


@pytest.mark.parametrize(("parts", "ok"), [(3, True), (4, False)])
def test_multipart_part_count_is_limited(parts: int, ok: bool) -> None:
    body = multipart(*(part(f"p{i}") for i in range(parts)))
    if ok:
        assert len(parse_body_arguments(MULTIPART, body, max_parts=3)[0]) == parts
    else:
        with pytest.raises(FormError, match="too many multipart parts"):
            parse_body_arguments(MULTIPART, body, max_parts=3)


def test_default_part_limit_allows_exactly_max_parts() -> None:
    # Tornado counts the empty preamble as a part and so allows only 99 by default.
    body = multipart(*(part(f"p{i}") for i in range(DEFAULT_MAX_FORM_PARTS)))
    assert len(parse_body_arguments(MULTIPART, body)[0]) == DEFAULT_MAX_FORM_PARTS
    with pytest.raises(FormError, match="too many multipart parts"):
        parse_body_arguments(MULTIPART, multipart(*(part(f"p{i}") for i in range(101))))


@pytest.mark.parametrize(("filename_length", "ok"), [(900, True), (1100, False)])
def test_part_header_bytes_are_limited(filename_length: int, ok: bool) -> None:
    body = multipart(part("f", filename="n" * filename_length))
    if ok:
        assert "f" in parse_body_arguments(MULTIPART, body, max_part_header_bytes=1000)[1]
    else:
        with pytest.raises(FormError, match="headers too large"):
            parse_body_arguments(MULTIPART, body, max_part_header_bytes=1000)


def test_many_small_part_headers_add_up_to_the_limit() -> None:
    headers = b"".join(b"X-%d: %s\r\n" % (i, b"v" * 50) for i in range(30))
    body = multipart(headers + part())
    assert parse_body_arguments(MULTIPART, body, max_part_header_bytes=5000)[0] == {"a": [b"x"]}
    with pytest.raises(FormError, match="headers too large"):
        parse_body_arguments(MULTIPART, body, max_part_header_bytes=1000)


def test_one_endless_header_line_is_cut_off() -> None:
    body = b"--B\r\nX-Flood: " + b"v" * 100_000
    with pytest.raises(FormError, match="headers too large"):
        parse_body_arguments(MULTIPART, body)


def test_part_header_limit_is_per_part() -> None:
    body = multipart(*(part(f"p{i}", filename="n" * 500) for i in range(5)))
    assert len(parse_body_arguments(MULTIPART, body, max_part_header_bytes=1000)[1]) == 5


def test_large_file_bodies_are_not_limited_here() -> None:
    data = b"\r\n-" * 100_000 + b"y" * 1_000_000
    _, files = parse_body_arguments(MULTIPART, multipart(part("f", data, filename="big")))
    assert files["f"][0].body == data


@pytest.mark.parametrize("limit", ["max_fields", "max_parts", "max_part_header_bytes"])
@pytest.mark.parametrize("value", [0, -1, True, 1.5])
def test_limits_must_be_positive_ints(limit: str, value: object) -> None:
    with pytest.raises(ValueError, match=limit):
        parse_body_arguments(URLENCODED, b"a=1", **{limit: value})  # type: ignore[arg-type]
