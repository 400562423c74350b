"""tornadoish.errors: HTTPError, Finish and MissingArgumentError as plain values."""

from __future__ import annotations

from typing import Any

import pytest

from tornadoish.errors import Finish, HTTPError, MissingArgumentError


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (HTTPError(), "HTTP 500: Internal Server Error"),
        (HTTPError(404), "HTTP 404: Not Found"),
        (HTTPError(404, reason="Gone Fishing"), "HTTP 404: Gone Fishing"),
        (HTTPError(599), "HTTP 599: Unknown"),
        (HTTPError(400, "bad %s and %d", "x", 3), "HTTP 400: Bad Request (bad x and 3)"),
        (HTTPError(400, "100% sure"), "HTTP 400: Bad Request (100% sure)"),
        (HTTPError(400, ""), "HTTP 400: Bad Request"),
    ],
)
def test_http_error_str_names_code_reason_and_log_message(error: HTTPError, text: str) -> None:
    assert str(error) == text


def test_http_error_keeps_its_fields() -> None:
    error = HTTPError(403, "user %s", "bob", reason="No")
    assert error.status_code == 403
    assert error.log_message == "user %s"
    assert error.args == ("bob",)
    assert error.reason == "No"


def test_http_error_defaults() -> None:
    error = HTTPError()
    assert (error.status_code, error.log_message, error.args, error.reason) == (500, None, (), None)


def test_http_error_escapes_a_bare_log_message_for_later_formatting() -> None:
    # Loggers format log_message with args; a lone '%' must survive that.
    error = HTTPError(400, "50% off")
    assert error.log_message == "50%% off"
    assert error.log_message % error.args == "50% off"


@pytest.mark.parametrize("status", ["404", 404.0, True, None])
def test_http_error_refuses_a_non_int_status(status: Any) -> None:
    with pytest.raises(TypeError, match="status_code must be an int"):
        HTTPError(status)


def test_http_error_is_an_exception_raisable_and_catchable() -> None:
    with pytest.raises(HTTPError) as info:
        raise HTTPError(418)
    assert info.value.status_code == 418
    assert str(info.value) == "HTTP 418: I'm a Teapot"


def test_finish_is_not_an_http_error_and_carries_its_chunk() -> None:
    finish = Finish("done")
    assert not isinstance(finish, HTTPError)
    assert isinstance(finish, Exception)
    assert finish.args == ("done",)
    assert Finish().args == ()


def test_missing_argument_error_is_a_400_naming_the_argument() -> None:
    error = MissingArgumentError("page")
    assert isinstance(error, HTTPError)
    assert error.status_code == 400
    assert error.arg_name == "page"
    assert error.log_message == "Missing argument page"
    assert str(error) == "HTTP 400: Bad Request (Missing argument page)"
