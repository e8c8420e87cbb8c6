"""The rules of a site, as the API, the CLI, import and the supervisor apply them: each
broken rule names its field, with the same words in every place; a stored row is described
with its value (never a secret's)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sitelink.errors import ValidationError
from sitelink.site_rules import (
    check_new_site,
    check_site_update,
    field_text,
    parse_broker,
    stored_site_problem,
)

GOOD = {"name": "Site 1", "code": "site_1", "broker_host": "broker.example"}


@pytest.mark.parametrize(("change", "text"), [
    ({"code": "bad code"}, "code: Expected `str` matching regex '^[A-Za-z0-9_-]{1,64}$'"),
    ({"code": "x" * 65}, "code: Expected `str` matching regex '^[A-Za-z0-9_-]{1,64}$'"),
    ({"broker_port": 0}, "broker_port: Expected `int` >= 1"),
    ({"broker_port": 65536}, "broker_port: Expected `int` <= 65535"),
    ({"broker_port": "1883"}, "broker_port: Expected `int`, got `str`"),
    ({"broker_host": ""}, "broker_host: Expected `str` of length >= 1"),
    ({"broker_host": "a/b"}, r"broker_host: Expected `str` matching regex '^[^\\s/]+$'"),
    ({"client_id_prefix": "a b"},
     "client_id_prefix: Expected `str` matching regex '^[A-Za-z0-9_.-]{0,64}$'"),
    ({"keepalive_s": 4}, "keepalive_s: Expected `int` >= 5"),
    ({"offline_after_s": 1}, "offline_after_s: Expected `int` >= 5"),
    ({"protocol": "4"}, "protocol: Invalid enum value '4'"),
    ({"passwrod": "x"}, "passwrod: unknown field"),
])
def test_a_broken_rule_names_its_field(change: dict[str, object], text: str) -> None:
    """Every rule of API.md's site fields is refused with the field first."""
    with pytest.raises(ValidationError) as caught:
        check_new_site({**GOOD, **change})
    assert str(caught.value) == text
    assert caught.value.field == text.split(":")[0]


def test_a_missing_field_is_required() -> None:
    with pytest.raises(ValidationError, match=r"^name: required$"):
        check_new_site({"code": "a", "broker_host": "h"})


def test_good_fields_make_a_site_with_the_api_defaults() -> None:
    site = check_new_site(GOOD)
    assert (site.broker_port, site.protocol, site.offline_after_s) == (1883, "3.1.1", 180)
    assert check_site_update({"broker_port": 8883}).broker_port == 8883


def test_the_api_and_the_rules_say_the_same_words() -> None:
    """The API's 400 text comes from the same function as the CLI's line."""
    message = "Expected `int` <= 65535 - at `$.broker_port`"
    assert field_text(message) == "broker_port: Expected `int` <= 65535"


@pytest.mark.parametrize(("text", "expected"), [
    ("h", ("h", 1883)), ("h:1884", ("h", 1884)), ("[::1]:8883", ("::1", 8883)),
    ("::1", ("::1", 1883)), ("h:99999", ("h", 99999)),  # the range is checked as broker_port
])
def test_broker_addresses(text: str, expected: tuple[str, int]) -> None:
    assert parse_broker(text) == expected


@pytest.mark.parametrize("text", ["host:notaport", "h:-1", "h:\uff11\uff12", "[::1", "[::1]x"])
def test_a_broker_that_is_not_an_address_names_broker(text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_broker(text)
    assert caught.value.field == "broker"


def test_a_stored_row_is_described_with_its_value() -> None:
    row = {**GOOD, "code": "bad code", "broker_port": 1883, "password": "s3cret"}
    assert stored_site_problem(row) == (
        "invalid code 'bad code': Expected `str` matching regex '^[A-Za-z0-9_-]{1,64}$'")
    assert stored_site_problem({**GOOD, "broker_port": 0}) == (
        "invalid broker_port 0: Expected `int` >= 1")
    assert stored_site_problem({**GOOD, "protocol": "3"}).startswith("invalid protocol '3'")
    assert stored_site_problem({**GOOD, "password": "s3cret"}) is None


def test_a_stored_secret_is_never_shown() -> None:
    problem = stored_site_problem({**GOOD, "password": "s3cret" * 500})
    assert problem is not None and "s3cret" not in problem
    assert problem.startswith("invalid password (hidden)")


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from([*sorted(GOOD), "broker_port", "protocol", "tls"]),
                       st.none() | st.integers() | st.text(max_size=70) | st.booleans()))
def test_any_row_is_either_a_site_or_one_line(row: dict[str, object]) -> None:
    """Whatever a row holds, the rules answer with a site or one line, never an exception."""
    problem = stored_site_problem(row)
    if problem is not None:
        assert "\n" not in problem and problem.startswith("invalid ")
