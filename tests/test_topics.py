"""Topic templates, the router, MQTT filter matching and the publish and discovery rules."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import msgspec
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from sitelink.errors import ValidationError
from sitelink.topic_rules import guess_kind, topic_matches, validate_publish_topic
from sitelink.topics import (
    DEFAULT_SUBSCRIPTIONS,
    Route,
    Subscription,
    TopicMatch,
    TopicRouter,
    TopicTemplate,
)

# ---------------------------------------------------------------------------- strategies

codes = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
# Level text as brokers deliver it: anything but "/", the wildcards and NUL.
level_chars = st.characters(exclude_characters="/+#\x00", codec="utf-8")
device_levels = st.text(level_chars, min_size=1, max_size=8)
literals = st.text(
    st.characters(exclude_characters="/+#\x00{}", codec="utf-8"),
    min_size=1,
    max_size=8,
) | st.sampled_from(["datalogger", "gateway", "heartbeat", "status"])


@st.composite
def patterns(draw: st.DrawFn) -> str:
    """Valid templates: {serial} once, {model}/{gateway} maybe, literals anywhere."""
    names = ["serial"] + [n for n in ("model", "gateway") if draw(st.booleans())]
    levels = [f"{{{n}}}" for n in names] + draw(st.lists(literals, max_size=4))
    levels = draw(st.permutations(levels))
    assume(levels[0] != "manager")
    return "/".join(levels)


@st.composite
def topics_for(draw: st.DrawFn, code: str, pattern: str) -> tuple[str, TopicMatch]:
    """A topic the template names a device in, and the device it names."""
    filled = {name: draw(device_levels) for name in ("serial", "model", "gateway")}
    levels = [filled[lv[1:-1]] if lv.startswith("{") else lv for lv in pattern.split("/")]
    expected = TopicMatch(
        filled["serial"],
        filled["model"] if "{model}" in pattern else None,
        filled["gateway"] if "{gateway}" in pattern else None,
    )
    return "/".join([code, *levels]), expected


@st.composite
def near_topics(draw: st.DrawFn, code: str, pattern_list: list[str]) -> str:
    """Topics close to the templates: exact ones, with a level changed, added, dropped or empty."""
    topic, _ = draw(topics_for(code, draw(st.sampled_from(pattern_list))))
    levels = topic.split("/")
    change = draw(st.sampled_from(["none", "replace", "add", "drop", "empty", "code", "manager"]))
    index = draw(st.integers(0, len(levels) - 1))
    if change == "replace":
        levels[index] = draw(device_levels | literals)
    elif change == "add":
        levels.insert(index, draw(device_levels))
    elif change == "drop" and len(levels) > 1:
        del levels[index]
    elif change == "empty":
        levels[index] = ""
    elif change == "code":
        levels[0] = levels[0] + "x"
    elif change == "manager" and len(levels) > 1:
        levels[1] = "manager"
    return "/".join(levels)


def mqtt_regex(mqtt_filter: str) -> re.Pattern[str]:
    """An independent oracle: the filter as a regular expression over topic names."""
    levels = mqtt_filter.split("/")
    tail = ""
    if levels[-1] == "#":
        levels.pop()
        tail = "(/.*)?" if levels else ".*"
    body = "/".join("[^/]*" if lv == "+" else re.escape(lv) for lv in levels)
    return re.compile(body + tail, re.DOTALL)


# ---------------------------------------------------------------------------- templates


@given(code=codes, data=st.data())
def test_template_matches_its_topics_and_extracts_the_device(
    code: str, data: st.DataObject
) -> None:
    """A topic built from a template matches its filter and match() returns exactly its device."""
    pattern = data.draw(patterns())
    template = TopicTemplate(pattern)
    topic, expected = data.draw(topics_for(code, pattern))
    assert topic_matches(template.mqtt_filter(code), topic)
    assert template.match(code, topic) == expected


@given(code=codes, data=st.data())
def test_match_agrees_with_the_mqtt_filter(code: str, data: st.DataObject) -> None:
    """match() hits iff the filter matches, no placeholder is empty and it is not ours."""
    pattern = data.draw(patterns())
    template = TopicTemplate(pattern)
    topic = data.draw(near_topics(code, [pattern]))
    levels = topic.split("/")
    placeholders_filled = len(levels) == len(template.levels) + 1 and all(
        levels[i + 1] for i, lv in enumerate(template.levels) if lv.startswith("{")
    )
    ours = levels[1:2] == ["manager"]
    expected = topic_matches(template.mqtt_filter(code), topic) and placeholders_filled and not ours
    assert (template.match(code, topic) is not None) == expected


def test_template_filter_and_match_example() -> None:
    """The API.md example: placeholders become "+", the code is put in front."""
    template = TopicTemplate("gateway/{gateway}/datalogger/{model}/{serial}/input")
    assert template.mqtt_filter("site_001") == "site_001/gateway/+/datalogger/+/+/input"
    assert template.match("site_001", "site_001/gateway/1/datalogger/monstro/15/input") == (
        TopicMatch(serial="15", model="monstro", gateway="1")
    )
    assert template.match("site_002", "site_001/gateway/1/datalogger/monstro/15/input") is None
    assert template.match("site_001", "site_001/gateway//datalogger/monstro/15/input") is None


@pytest.mark.parametrize(
    ("pattern", "words"),
    [
        ("", "must not be empty"),
        ("datalogger/{model}/heartbeat", "must contain {serial}"),
        ("/datalogger/{serial}", "level 1 is empty"),
        ("datalogger//{serial}", "level 2 is empty"),
        ("datalogger/{serial}/", "level 3 is empty"),
        ("{serial}/{serial}", "{serial} may appear only once"),
        ("{model}/{serial}/{model}", "{model} may appear only once"),
        ("{device}/{serial}", "unknown placeholder {device}"),
        ("{}/{serial}", "unknown placeholder {}"),
        ("dl-{serial}", "must be a whole level"),
        ("{serial}x", "must be a whole level"),
        ("{serial}/a}", "must be a whole level"),
        ("+/{serial}", "wildcards"),
        ("{serial}/#", "wildcards"),
        ("a+b/{serial}", "wildcards"),
        ("a\x00/{serial}", "NUL"),
        ("manager/{serial}/status", "reserved"),
        ("\ud800/{serial}", "not valid UTF-8"),
        ("{serial}/" + "a" * 960, "too long"),
        ("{serial}/" + "é" * 480, "too long"),
    ],
)
def test_invalid_patterns_name_the_field(pattern: str, words: str) -> None:
    """Each broken rule of a pattern raises ValidationError("pattern") with a clear message."""
    with pytest.raises(ValidationError, match=re.escape(words)) as caught:
        TopicTemplate(pattern)
    assert caught.value.field == "pattern"


@given(
    data=st.data(),
    corruption=st.sampled_from(["+", "#", "\x00", "{", "}", "{nope}", "", "{serial}"]),
)
def test_corrupted_patterns_are_rejected(data: st.DataObject, corruption: str) -> None:
    """A valid pattern with a level made empty, a wildcard, a brace or a second {serial} fails."""
    levels = data.draw(patterns()).split("/")
    index = data.draw(st.integers(0, len(levels)))
    levels.insert(index, corruption)
    with pytest.raises(ValidationError) as caught:
        TopicTemplate("/".join(levels))
    assert caught.value.field == "pattern"


def test_longest_pattern_fits_the_longest_code() -> None:
    """A pattern is accepted iff its filter under a 64-character code is at most 1024 bytes."""
    code = "c" * 64
    longest = TopicTemplate("{serial}/" + "a" * (1024 - 65 - 2))
    assert len(longest.mqtt_filter(code).encode()) == 1024
    with pytest.raises(ValidationError):
        TopicTemplate("{serial}/" + "a" * (1024 - 65 - 1))


def test_template_is_frozen_and_compared_by_pattern() -> None:
    """Templates are immutable values, equal and hashed by their pattern."""
    template = TopicTemplate("gateway/{serial}/heartbeat")
    with pytest.raises(dataclasses.FrozenInstanceError):
        template.pattern = "x/{serial}"  # type: ignore[misc]
    assert template == TopicTemplate("gateway/{serial}/heartbeat")
    assert len({template, TopicTemplate("gateway/{serial}/heartbeat")}) == 1


def test_bad_site_code_is_refused() -> None:
    """A filter or router is never built under a code that is not a valid site code."""
    with pytest.raises(ValidationError) as caught:
        TopicTemplate("{serial}").mqtt_filter("site/+")
    assert caught.value.field == "code"
    with pytest.raises(ValidationError):
        TopicRouter("", DEFAULT_SUBSCRIPTIONS)


# ---------------------------------------------------------------------------- subscriptions


def test_default_subscriptions_are_api_md() -> None:
    """A new site gets the three subscriptions of API.md, with their filters."""
    assert [
        (s.mqtt_filter("site_001"), s.device_kind, s.message_kind, s.qos, s.id)
        for s in DEFAULT_SUBSCRIPTIONS
    ] == [
        ("site_001/gateway/+/heartbeat", "gateway", "heartbeat", 1, 0),
        ("site_001/datalogger/+/+/heartbeat", "datalogger", "heartbeat", 1, 0),
        ("site_001/datalogger/+/+/status", "datalogger", "status", 1, 0),
    ]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"pattern": "datalogger/{model}"}, "pattern"),
        ({"device_kind": "sensor"}, "device_kind"),
        ({"message_kind": "input"}, "message_kind"),
        ({"payload_version": "v9"}, "payload_version"),
        ({"qos": 3}, "qos"),
        ({"qos": True}, "qos"),
        ({"id": -1}, "id"),
    ],
)
def test_subscription_validates_itself(changes: dict[str, Any], field: str) -> None:
    """Building or decoding a Subscription with a bad field raises an error naming it.

    Built in code: our ValidationError. Decoded: msgspec checks types and enums first
    (msgspec.ValidationError with the JSON path), then __post_init__ raises ours.
    """
    fields: dict[str, Any] = {"id": 1, "pattern": "gateway/{serial}/heartbeat", **changes}
    with pytest.raises(ValidationError) as built:
        Subscription(**fields)
    assert built.value.field == field
    with pytest.raises((ValidationError, msgspec.ValidationError)) as decoded:
        msgspec.json.decode(msgspec.json.encode(fields), type=Subscription)
    if isinstance(decoded.value, ValidationError):
        assert decoded.value.field == field
    else:
        assert f"$.{field}" in str(decoded.value)


def test_subscription_defaults_and_round_trip() -> None:
    """Defaults are those of API.md, and a subscription survives JSON encoding unchanged."""
    sub = Subscription(id=7, pattern="datalogger/{model}/{serial}/heartbeat")
    assert (sub.device_kind, sub.message_kind, sub.payload_version, sub.qos, sub.is_active) == (
        "datalogger",
        "heartbeat",
        "v1",
        1,
        True,
    )
    assert msgspec.json.decode(msgspec.json.encode(sub), type=Subscription) == sub
    assert sub.template is Subscription(id=8, pattern=sub.pattern).template


# ---------------------------------------------------------------------------- router


def brute_force(code: str, subscriptions: list[Subscription], topic: str) -> Route | None:
    for sub in subscriptions:
        if sub.is_active:
            found = sub.template.match(code, topic)
            if found is not None:
                return Route(sub, found.serial, found.model, found.gateway)
    return None


@given(code=codes, data=st.data())
def test_router_equals_trying_every_template_in_order(code: str, data: st.DataObject) -> None:
    """route() returns what the first active matching subscription would, or None."""
    pattern_list = data.draw(st.lists(patterns(), min_size=1, max_size=6))
    subscriptions = [
        Subscription(id=i + 1, pattern=p, is_active=data.draw(st.booleans(), label="active"))
        for i, p in enumerate(pattern_list)
    ]
    router = TopicRouter(code, subscriptions)
    for _ in range(5):
        topic = data.draw(near_topics(code, pattern_list))
        assert router.route(topic) == brute_force(code, subscriptions, topic)


def test_router_prefers_the_earlier_subscription() -> None:
    """When two templates match, the one listed first wins, whatever their shapes."""
    specific = Subscription(id=1, pattern="datalogger/special/{serial}/heartbeat")
    general = Subscription(id=2, pattern="datalogger/{model}/{serial}/heartbeat")
    topic = "s/datalogger/special/9/heartbeat"
    assert TopicRouter("s", [specific, general]).route(topic) == Route(specific, "9", None, None)
    assert TopicRouter("s", [general, specific]).route(topic) == Route(
        general, "9", "special", None
    )


def test_router_routes_the_default_topics_and_ignores_the_rest() -> None:
    """Default topics reach their subscription; manager, input and foreign topics route nowhere."""
    router = TopicRouter("site_001", DEFAULT_SUBSCRIPTIONS)
    gateway, heartbeat, status = DEFAULT_SUBSCRIPTIONS
    assert router.route("site_001/gateway/1/heartbeat") == Route(gateway, "1", None, None)
    assert router.route("site_001/datalogger/monstro/MONSTR-001/heartbeat") == Route(
        heartbeat, "MONSTR-001", "monstro", None
    )
    assert router.route("site_001/datalogger/m/s/status") == Route(status, "s", "m", None)
    for topic in (
        "site_001/manager/host-a/status",
        "site_001/gateway/1/datalogger/m/s/input",
        "site_002/gateway/1/heartbeat",
        "site_001",
        "",
        "site_001/datalogger/m//heartbeat",
    ):
        assert router.route(topic) is None


def test_router_ignores_manager_topics_even_for_catch_all_templates() -> None:
    """Our own {code}/manager/... availability topic is never taken for a device's."""
    router = TopicRouter("s", [Subscription(id=1, pattern="{model}/{serial}/status")])
    assert router.route("s/manager/host-a/status") is None
    assert router.route("s/pump/7/status") is not None


# ---------------------------------------------------------------------------- filter matching

filter_levels = st.sampled_from(["+", "a", "b", "", "$SYS"])
topic_levels = st.sampled_from(["a", "b", "", "$SYS", "+"])


@given(
    levels=st.lists(filter_levels, min_size=1, max_size=5),
    hash_tail=st.booleans(),
    topic=st.lists(topic_levels, min_size=1, max_size=6).map("/".join),
)
def test_topic_matches_agrees_with_a_regex_oracle(
    levels: list[str], hash_tail: bool, topic: str
) -> None:
    """topic_matches is MQTT matching: the filter as a regex, but no $-topics under wildcards."""
    mqtt_filter = "/".join([*levels, "#"] if hash_tail else levels)
    expected = bool(mqtt_regex(mqtt_filter).fullmatch(topic))
    if topic.startswith("$") and mqtt_filter[:1] in ("+", "#"):
        expected = False
    assert topic_matches(mqtt_filter, topic) == expected


@pytest.mark.parametrize(
    ("mqtt_filter", "topic", "expected"),
    [
        ("sport/tennis/#", "sport/tennis", True),
        ("sport/tennis/#", "sport/tennis/player1/ranking", True),
        ("sport/#", "sport", True),
        ("#", "a/b/c", True),
        ("#", "$SYS/broker", False),
        ("+/monitor", "$SYS/monitor", False),
        ("$SYS/#", "$SYS/broker", True),
        ("sport/+", "sport/", True),
        ("sport/+", "sport", False),
        ("+/+", "/finance", True),
        ("/+", "/finance", True),
        ("+", "/finance", False),
        ("a/b", "a/b/c", False),
    ],
)
def test_topic_matches_spec_examples(mqtt_filter: str, topic: str, expected: bool) -> None:
    """The examples of MQTT 3.1.1 §4.7 match as the spec says."""
    assert topic_matches(mqtt_filter, topic) is expected


@pytest.mark.parametrize("mqtt_filter", ["a/#/b", "a#", "a/b+", "#/a"])
def test_malformed_filters_raise(mqtt_filter: str) -> None:
    """A filter with a wildcard that is not a whole level, or # not last, is refused."""
    with pytest.raises(ValidationError) as caught:
        topic_matches(mqtt_filter, "a/b")
    assert caught.value.field == "filter"


# ---------------------------------------------------------------------------- publish, discovery


@pytest.mark.parametrize(
    "topic",
    [
        "site_001/gateway/1/datalogger/monstro/15/input",
        "site_001/x",
        "site_001/" + "é" * 507,  # 9 + 1014 bytes
    ],
)
def test_publish_topic_accepted(topic: str) -> None:
    """Topics under the site's code, without wildcards or NUL, up to 1024 bytes, are accepted."""
    validate_publish_topic("site_001", topic)


@pytest.mark.parametrize(
    ("topic", "words"),
    [
        ("site_002/gateway/1", "must start with the site's code"),
        ("site_0012/x", "must start with the site's code"),
        ("site_001", "must start with the site's code"),
        ("site_001/", "must start with the site's code"),
        ("/site_001/x", "must start with the site's code"),
        ("site_001/+/input", "'+'"),
        ("site_001/a/#", "'#'"),
        ("site_001/a\x00b", "NUL"),
        ("site_001/" + "é" * 508, "at most 1024"),
        ("site_001/\udc80", "not valid UTF-8"),
    ],
)
def test_publish_topic_refused(topic: str, words: str) -> None:
    """Each publish rule of API.md, broken, raises ValidationError("topic") saying which."""
    with pytest.raises(ValidationError, match=re.escape(words)) as caught:
        validate_publish_topic("site_001", topic)
    assert caught.value.field == "topic"


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("s/gateway/1/heartbeat", ("gateway", "heartbeat")),
        ("s/datalogger/monstro/15/heartbeat", ("datalogger", "heartbeat")),
        ("s/datalogger/monstro/15/status", ("datalogger", "status")),
        ("s/datalogger/15/heartbeat", ("datalogger", "heartbeat")),
        ("s/gateway/1/datalogger/m/15/heartbeat", ("datalogger", "heartbeat")),
        ("s/gateway/1/datalogger/m/15/input", None),
        ("s/manager/host-a/status", None),
        ("s/gateway/heartbeat", None),
        ("s/weather/7/heartbeat", None),
        ("t/gateway/1/heartbeat", None),
    ],
)
def test_guess_kind(topic: str, expected: tuple[str, str] | None) -> None:
    """Discovery guesses device and message kind from the kind level and the last level."""
    assert guess_kind("s", topic) == expected
