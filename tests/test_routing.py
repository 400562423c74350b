"""tornadoish.routing: URL rules, matching on the raw path, reversing, host rules."""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

import pytest

from tests.apps import client
from tornadoish import Application, RequestHandler, URLSpec, url
from tornadoish.routing import HostRules, Router, import_object, make_spec


class AHandler(RequestHandler):
    def get(self, *args: str | None, **kwargs: str | None) -> None:
        self.write({"handler": "a", "args": list(args), "kwargs": kwargs})


class BHandler(RequestHandler):
    def get(self, *args: str | None, **kwargs: str | None) -> None:
        self.write({"handler": "b", "args": list(args), "kwargs": kwargs})


# -- URLSpec ------------------------------------------------------------------------------


def test_url_is_urlspec() -> None:
    assert url is URLSpec


def test_dollar_is_appended_to_string_patterns_once() -> None:
    assert URLSpec("/a", AHandler).regex.pattern == "/a$"
    assert URLSpec("/a$", AHandler).regex.pattern == "/a$"


def test_compiled_patterns_are_used_as_given() -> None:
    regex = re.compile("/a.*")
    assert URLSpec(regex, AHandler).regex is regex


def test_urlspec_keeps_handler_kwargs_and_name() -> None:
    spec = URLSpec("/a", AHandler, {"x": 1}, name="a")
    assert spec.handler_class is AHandler
    assert spec.kwargs == {"x": 1}
    assert spec.name == "a"
    assert URLSpec("/a", AHandler).kwargs == {}
    assert "'/a$'" in repr(spec)
    assert "name='a'" in repr(spec)


def test_handler_may_be_a_dotted_import_string() -> None:
    spec = URLSpec("/a", "tests.test_routing.AHandler")
    assert spec.handler_class is AHandler


def test_handler_string_naming_a_missing_attribute_raises_import_error() -> None:
    with pytest.raises(ImportError, match="has no attribute 'Nope'"):
        URLSpec("/a", "tests.test_routing.Nope")


def test_import_object_imports_a_bare_module() -> None:
    assert import_object("re") is re
    assert import_object("re.compile") is re.compile


def test_mixing_named_and_positional_groups_raises_value_error() -> None:
    with pytest.raises(ValueError, match="mixes named and positional groups"):
        URLSpec(r"/(?P<a>\w+)/(\w+)", AHandler)


def test_invalid_regex_raises_value_error_naming_the_pattern() -> None:
    with pytest.raises(ValueError, match=r"invalid route pattern '/\(\$'"):
        URLSpec("/(", AHandler)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((42, AHandler), "route pattern must be a str or compiled regex"),
        ((b"/a", AHandler), "route pattern must be a str or compiled regex"),
        (("/a", 42), "must be a class"),
        (("/a", AHandler, ["x"]), "kwargs for '/a\\$' must be a dict"),
    ],
)
def test_bad_urlspec_arguments_raise_type_error(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        URLSpec(*args)


@pytest.mark.parametrize(
    "rule",
    [
        "/a",  # a bare string is not a rule
        ("/a",),  # too short
        ("/a", AHandler, {}, "name", "extra"),  # too long
        42,
        None,
    ],
)
def test_bad_rules_raise_type_error(rule: Any) -> None:
    with pytest.raises(TypeError, match="a route must be url"):
        make_spec(rule)


def test_rule_tuples_and_lists_make_specs() -> None:
    spec = make_spec(["/a", AHandler, {"k": 1}, "n"])
    assert (spec.regex.pattern, spec.kwargs, spec.name) == ("/a$", {"k": 1}, "n")
    existing = URLSpec("/b", BHandler)
    assert make_spec(existing) is existing


def test_application_refuses_bad_rules_at_construction() -> None:
    with pytest.raises(TypeError, match="a route must be url"):
        Application(["/a"])


# -- Router.find --------------------------------------------------------------------------


def test_first_matching_rule_wins() -> None:
    router = Router([("/a", AHandler), ("/a", BHandler), ("/.*", BHandler)])
    match = router.find("/a")
    assert match is not None
    assert match.spec.handler_class is AHandler


def test_pattern_must_match_the_whole_path() -> None:
    router = Router([("/a", AHandler)])
    assert router.find("/a/b") is None
    assert router.find("/ab") is None
    assert router.find("/a") is not None


def test_no_match_returns_none() -> None:
    assert Router([("/a", AHandler)]).find("/b") is None
    assert Router().find("/") is None


@pytest.mark.parametrize(
    ("raw_path", "expected"),
    [
        ("/f/a%2Fb", [b"a/b"]),  # %-escapes decoded after matching
        ("/f/a+b", [b"a+b"]),  # '+' in a path stays '+'
        ("/f/caf%C3%A9", [b"caf\xc3\xa9"]),
        ("/f/%FF", [b"\xff"]),  # undecodable bytes stay bytes here
    ],
)
def test_groups_are_percent_decoded_to_bytes(raw_path: str, expected: list[bytes]) -> None:
    match = Router([("/f/(.*)", AHandler)]).find(raw_path)
    assert match is not None
    assert match.path_args == expected
    assert match.path_kwargs == {}


def test_patterns_match_the_still_encoded_path() -> None:
    router = Router([("/a%20b", AHandler), ("/x/([^/]+)", BHandler)])
    assert router.find("/a%20b") is not None
    assert router.find("/a b") is None
    # An encoded '/' does not split a segment: the pattern sees %2F.
    match = router.find("/x/1%2F2")
    assert match is not None
    assert match.path_args == [b"1/2"]


def test_named_groups_become_kwargs() -> None:
    match = Router([(r"/(?P<year>\d+)/(?P<slug>[^/]+)", AHandler)]).find("/2024/a%20b")
    assert match is not None
    assert match.path_args == []
    assert match.path_kwargs == {"year": b"2024", "slug": b"a b"}


def test_optional_groups_that_did_not_match_are_none() -> None:
    router = Router([(r"/opt(/\w+)?", AHandler), (r"/named(?P<x>/\w+)?", BHandler)])
    positional = router.find("/opt")
    assert positional is not None
    assert positional.path_args == [None]
    named = router.find("/named")
    assert named is not None
    assert named.path_kwargs == {"x": None}


def test_non_capturing_groups_are_not_arguments() -> None:
    match = Router([(r"/(?:a|b)/(\d+)", AHandler)]).find("/b/7")
    assert match is not None
    assert match.path_args == [b"7"]


# -- reverse ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "args", "expected"),
    [
        ("/", (), "/"),
        ("/static/page", (), "/static/page"),
        ("^/anchored$", (), "/anchored"),
        (r"/user/([^/]+)", ("bob",), "/user/bob"),
        (r"/user/([^/]+)", ("é ?&",), "/user/%C3%A9%20%3F%26"),  # str as UTF-8
        (r"/user/([^/]+)", (b"\xff%",), "/user/%FF%25"),  # bytes escaped as they are
        (r"/user/(\d+)", (42,), "/user/42"),  # other values through str()
        (r"/files/(.*)", ("a/b c",), "/files/a/b%20c"),  # '/' kept
        (r"/(\d+)/(\d+)", (1, 2), "/1/2"),
        (r"/(?P<y>\d+)/(?P<m>\d+)", (2024, 5), "/2024/5"),  # named groups, by position
        (r"/a\.b/(\w+)", ("c",), "/a.b/c"),  # escaped literal characters
        (r"/100%/(\w+)", ("x",), "/100%/x"),  # a literal '%' survives formatting
        (r"/p/(\w+)-(\w+)", ("x", "y"), "/p/x-y"),
        (r"/api/v1.0/(\w+)", ("x",), "/api/v1.0/x"),  # an unescaped '.' as Tornado apps write
        (r"/article/(\d+)/?", (5,), "/article/5/?"),  # as Tornado: the path is /article/5/
        (r"/files/(\w+)\.?", ("x",), "/files/x.?"),
    ],
)
def test_reverse_builds_escaped_paths(pattern: str, args: tuple[Any, ...], expected: str) -> None:
    spec = URLSpec(pattern, AHandler)
    assert spec.reverse(*args) == expected
    path = urllib.parse.urlsplit(expected).path  # "/x/?" is the path "/x/"
    assert spec.regex.match(path), "a reversed URL is routed back to its rule"


@pytest.mark.parametrize(("args"), [(), ("a", "b")])
def test_reverse_with_the_wrong_argument_count_raises_value_error(args: tuple[Any, ...]) -> None:
    with pytest.raises(ValueError, match=r"takes 1 argument\(s\), got"):
        URLSpec(r"/user/(\w+)", AHandler).reverse(*args)


@pytest.mark.parametrize(
    "pattern",
    [
        r"/(\d+)/x[ab]",  # a character class outside any group
        r"/((a)b)",  # nested groups
        r"/(a\(b)",  # escaped parenthesis
        r"/\d+/(x)",  # a class escape as a literal
        r"/a|b",  # alternation
        r"/a+",
        r"/a??",  # a lazy optional: not a plain optional character
        r"/(x)?",  # an optional group
        r"/a?/(x)",  # an optional character before the end: no working URL for it
        r"/[ab]?",
        "/a\\",  # '$' appended after a backslash is a literal '$', then nothing
    ],
)
def test_reverse_of_complex_patterns_raises_value_error(pattern: str) -> None:
    spec = URLSpec(pattern, AHandler)
    with pytest.raises(ValueError, match="cannot reverse the complex pattern"):
        spec.reverse("x")


# -- host rules ---------------------------------------------------------------------------


def test_host_rules_match_case_insensitively_and_whole_names() -> None:
    rules = HostRules(r"www\.example\.com", [("/", AHandler)])
    assert rules.matches("WWW.example.com")
    assert not rules.matches("www.example.com.evil")
    assert not rules.is_wildcard
    assert HostRules(".*", []).is_wildcard
    assert HostRules(".*$", []).is_wildcard


def test_invalid_host_pattern_raises_value_error() -> None:
    with pytest.raises(ValueError, match="invalid host pattern"):
        HostRules("(", [])


def _host_app(default_host: str | None = None) -> Application:
    app = Application([("/", BHandler), ("/only-wildcard", BHandler)], default_host=default_host)
    app.add_handlers(r"www\.example\.com", [("/", AHandler)])
    return app


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("host", "handler"),
    [
        ("www.example.com", "a"),
        ("WWW.Example.COM:8080", "a"),  # port dropped, case ignored
        ("other.example.com", "b"),
    ],
)
async def test_host_specific_rules_win_over_wildcard_rules(host: str, handler: str) -> None:
    async with client(_host_app()) as http:
        response = await http.get("/", headers={"Host": host})
    assert response.json()["handler"] == handler


@pytest.mark.anyio
async def test_host_without_a_matching_path_falls_back_to_wildcard_rules() -> None:
    async with client(_host_app()) as http:
        response = await http.get("/only-wildcard", headers={"Host": "www.example.com"})
    assert response.json()["handler"] == "b"


def _default_host_app() -> Application:
    app = Application([("/shared", BHandler)], default_host="www.example.com")
    app.add_handlers(r"www\.example\.com", [("/", AHandler), ("/shared", AHandler)])
    return app


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "headers", "status", "handler"),
    [
        ("/", {"Host": "unknown.test"}, 200, "a"),  # the default host's rules apply
        ("/", {"Host": "unknown.test", "X-Real-Ip": "10.0.0.1"}, 404, None),  # not via a proxy
        ("/shared", {"Host": "unknown.test"}, 200, "b"),  # a wildcard rule goes first
        ("/shared", {"Host": "www.example.com"}, 200, "a"),
    ],
)
async def test_default_host_rules_apply_to_unknown_hosts_unless_behind_a_proxy(
    path: str,
    headers: dict[str, str],
    status: int,
    handler: str | None,
) -> None:
    async with client(_default_host_app()) as http:
        response = await http.get(path, headers=headers)
    assert response.status_code == status
    if handler is not None:
        assert response.json()["handler"] == handler


@pytest.mark.anyio
async def test_routes_match_the_raw_path_over_asgi() -> None:
    app = Application([("/a%20b", AHandler), ("/(.*)", BHandler)])
    async with client(app) as http:
        exact = await http.get("/a%20b")
        group = await http.get("/x%2Fy+z")
    assert exact.json()["handler"] == "a"
    assert group.json() == {"handler": "b", "args": ["x/y+z"], "kwargs": {}}


@pytest.mark.anyio
async def test_named_and_optional_groups_reach_the_verb_method() -> None:
    app = Application([(r"/n/(?P<name>[^/]+)(?P<rest>/.*)?", AHandler), (r"/p(/\d+)?", BHandler)])
    async with client(app) as http:
        named = await http.get("/n/caf%C3%A9")
        positional = await http.get("/p")
    assert named.json()["kwargs"] == {"name": "café", "rest": None}
    assert positional.json()["args"] == [None]


@pytest.mark.anyio
async def test_undecodable_path_group_is_a_400() -> None:
    async with client(Application([("/(.*)", AHandler)])) as http:
        response = await http.get("/%FF")
    assert response.status_code == 400
