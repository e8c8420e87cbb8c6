"""Heartbeat and status decoders: never raise, read what API.md says, reject with a reason."""

from __future__ import annotations

import math
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sitelink import payloads
from sitelink.errors import ConfigError
from sitelink.events import SensorValue
from sitelink.payloads import (
    DECODERS,
    Reading,
    Rejected,
    decode,
    decode_status,
    guess_payload_version,
    parse_json,
    preview,
    register,
)

MAX = 262_144

# ---------------------------------------------------------------------------- strategies

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    json_scalars.filter(lambda v: not (isinstance(v, float) and math.isinf(v))),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
# Numbers JSON cannot hold exactly or at all, to reach the overflow and range checks.
awkward_numbers = st.sampled_from([b"1e400", b"-1e999", b"9" * 400, b"-0.0", b"1E2", b"0"])

V1_FIELDS = ("v", "firmware", "uptime_s", "gateway", "sensors")
V2_FIELDS = ("v", "fw", "up", "r")


def shaped(fields: tuple[str, ...], entry: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Objects with the decoder's own keys holding anything, so every check is reached."""
    sensor_like = st.dictionaries(
        st.sampled_from(["id", "label", "type", "value", "unit"]), json_values | entry
    )
    field_value = (
        json_values
        | st.lists(sensor_like | entry, max_size=4)
        | st.dictionaries(st.text(max_size=3), st.lists(json_values, max_size=4), max_size=4)
    )
    return st.dictionaries(st.sampled_from(fields), field_value, max_size=len(fields))


payload_bytes = st.one_of(
    st.binary(max_size=300),
    json_values.map(msgspec.json.encode),
    shaped(V1_FIELDS, json_values).map(msgspec.json.encode),
    shaped(V2_FIELDS, json_values).map(msgspec.json.encode),
    st.tuples(shaped(V1_FIELDS, json_values), awkward_numbers).map(
        lambda pair: msgspec.json.encode(pair[0]).replace(b"null", pair[1], 1)
    ),
)

keys = st.text(min_size=1, max_size=12)
finite = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**53), 2**53)
sensor_values = st.builds(
    SensorValue,
    key=keys,
    value=st.none() | finite.map(float),
    label=st.text(max_size=20),
    sensor_type=st.text(max_size=12),
    unit=st.text(max_size=5),
)
sensor_lists = st.lists(sensor_values, max_size=8, unique_by=lambda s: s.key)
uptimes = st.none() | st.integers(0, 2**63 - 1)


# ---------------------------------------------------------------------------- never raises


@given(version=st.sampled_from([*DECODERS, "v9", ""]), payload=payload_bytes)
def test_any_bytes_give_a_reading_or_a_rejection(version: str, payload: bytes) -> None:
    """decode() returns a Reading or a Rejected for any bytes and any version; never raises."""
    result = decode(version, payload, MAX)
    assert isinstance(result, Reading | Rejected)
    if isinstance(result, Reading):
        assert all(s.value is None or math.isfinite(s.value) for s in result.sensors)
        assert len({s.key for s in result.sensors}) == len(result.sensors)
    else:
        assert result.reason


@given(payload=payload_bytes)
def test_fast_path_agrees_with_tolerant_path(payload: bytes) -> None:
    """The typed msgspec fast path decides exactly as the tolerant walk over the document."""
    document = parse_json(payload)
    if isinstance(document, Rejected):
        assert decode("v1", payload, MAX) == document
        assert decode("v2", payload, MAX) == document
    else:
        assert decode("v1", payload, MAX) == payloads.v1_from_document(document)
        assert decode("v2", payload, MAX) == payloads.v2_from_document(document)


@given(payload=st.binary(max_size=300) | payload_bytes)
def test_status_and_guess_and_preview_never_raise(payload: bytes) -> None:
    """decode_status, guess_payload_version and preview accept any bytes without raising."""
    assert decode_status(payload) in ("online", "offline") or isinstance(
        decode_status(payload), Rejected
    )
    assert guess_payload_version(payload) in (None, *DECODERS)
    assert isinstance(preview(payload), str)


# ---------------------------------------------------------------------------- round trips


def v1_payload(
    firmware: str | None, uptime_s: int | None, gateway: str | None, sensors: list[SensorValue]
) -> bytes:
    return msgspec.json.encode(
        {
            "firmware": firmware,
            "uptime_s": uptime_s,
            "gateway": gateway,
            "sensors": [
                {
                    "id": s.key,
                    "label": s.label,
                    "type": s.sensor_type,
                    "value": s.value,
                    "unit": s.unit,
                }
                for s in sensors
            ],
        }
    )


@given(
    firmware=st.none() | st.text(),
    uptime_s=uptimes,
    gateway=st.none() | st.text(),
    sensors=sensor_lists,
)
def test_v1_round_trip(
    firmware: str | None, uptime_s: int | None, gateway: str | None, sensors: list[SensorValue]
) -> None:
    """A valid v1 payload decodes to exactly the firmware, uptime, gateway and sensors in it."""
    payload = v1_payload(firmware, uptime_s, gateway, sensors)
    assert decode("v1", payload, MAX) == Reading(
        firmware=firmware, uptime_s=uptime_s, gateway=gateway, sensors=tuple(sensors)
    )


@given(
    firmware=st.none() | st.text(),
    uptime_s=uptimes,
    sensors=sensor_lists,
    with_version=st.booleans(),
)
def test_v2_round_trip(
    firmware: str | None, uptime_s: int | None, sensors: list[SensorValue], with_version: bool
) -> None:
    """A valid v2 payload decodes to its firmware, uptime and sensors (v2 has no labels)."""
    document: dict[str, Any] = {
        "fw": firmware,
        "up": uptime_s,
        "r": {s.key: [s.value, s.unit, s.sensor_type] for s in sensors},
    }
    if with_version:
        document["v"] = 2
    expected = tuple(
        SensorValue(key=s.key, value=s.value, unit=s.unit, sensor_type=s.sensor_type)
        for s in sensors
    )
    assert decode("v2", msgspec.json.encode(document), MAX) == Reading(
        firmware=firmware, uptime_s=uptime_s, sensors=expected
    )


def test_api_md_examples_decode() -> None:
    """The v1 and v2 examples of API.md decode to the same sensor reading."""
    v1 = (
        '{"firmware": "V.5.53.0", "uptime_s": 86400, "gateway": "1",'
        ' "sensors": [{"id": "t_ext", "label": "Temperatura Esterna", "type": "temperature",'
        ' "value": 22.5, "unit": "°C"}]}'
    ).encode()
    v2 = '{"v": 2, "fw": "V.6.0.1", "up": 86400, "r": {"t_ext": [22.5, "°C", "temperature"]}}'
    assert decode("v1", v1, MAX) == Reading(
        firmware="V.5.53.0",
        uptime_s=86400,
        gateway="1",
        sensors=(
            SensorValue(
                key="t_ext",
                value=22.5,
                label="Temperatura Esterna",
                sensor_type="temperature",
                unit="°C",
            ),
        ),
    )
    assert decode("v2", v2.encode(), MAX) == Reading(
        firmware="V.6.0.1",
        uptime_s=86400,
        sensors=(SensorValue(key="t_ext", value=22.5, sensor_type="temperature", unit="°C"),),
    )


def test_every_field_of_v1_is_optional() -> None:
    """An empty object, nulls and a sensor with only an id are all valid v1."""
    assert decode("v1", b"{}", MAX) == Reading()
    assert decode("v1", b'{"firmware":null,"sensors":null}', MAX) == Reading()
    assert decode("v1", b'{"sensors":[{"id":"a"}]}', MAX) == Reading(
        sensors=(SensorValue(key="a", value=None),)
    )


# ---------------------------------------------------------------------------- rejections


@given(size=st.integers(1, 2000), over=st.integers(1, 100))
def test_too_large_is_rejected_before_parsing(size: int, over: int) -> None:
    """A payload over max_payload is rejected with both sizes in the reason, whatever it holds."""
    payload = b"{" + b" " * (size + over - 2) + b"}"
    assert decode("v1", payload, size) == Rejected(
        f"payload too large ({size + over} > {size} bytes)"
    )
    assert isinstance(decode("v1", payload, size + over), Reading)


@given(
    version=st.sampled_from([v for v in DECODERS if v != "sparkplug_b"]),  # the JSON ones
    bad=st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\xc0\xaf"]),
    where=st.sampled_from(["string", "key", "outside"]),
)
def test_invalid_utf8_is_rejected(version: str, bad: bytes, where: str) -> None:
    """Invalid UTF-8 anywhere in a JSON payload is rejected as "invalid UTF-8"."""
    payload = {
        "string": b'{"firmware": "V' + bad + b'"}',
        "key": b'{"' + bad + b'": 1}',
        "outside": b'{"firmware": "V"}' + bad,
    }[where]
    assert decode(version, payload, MAX) == Rejected("invalid UTF-8")


@pytest.mark.parametrize(
    ("version", "payload", "reason"),
    [
        ("v1", b"", "not JSON"),
        ("v1", b"online", "not JSON"),
        ("v1", b'{"a":NaN}', "not JSON"),
        ("v1", b'{"a":1} x', "not JSON"),
        ("v1", b"[" * 5000 + b"]" * 5000, "JSON nested too deeply"),
        ("v1", b"[1, 2]", "expected a JSON object"),
        ("v1", b'"text"', "expected a JSON object"),
        ("v1", b'{"sensors": {"a": 1}}', "sensors: expected a list"),
        ("v1", b'{"firmware": 5}', "firmware: expected a string"),
        ("v1", b'{"gateway": 1}', "gateway: expected a string"),
        ("v1", b'{"uptime_s": -1}', "uptime_s: expected a non-negative integer"),
        ("v1", b'{"uptime_s": 1.5}', "uptime_s: expected a non-negative integer"),
        ("v1", b'{"uptime_s": true}', "uptime_s: expected a non-negative integer"),
        ("v1", b'{"uptime_s": 9223372036854775808}', "uptime_s: expected a non-negative integer"),
        ("v1", b'{"v": 2, "fw": "x"}', "v: expected 1 (is this a v2 payload?)"),
        ("v1", b'{"v": true}', "v: expected 1 (is this a v2 payload?)"),
        ("v2", b'{"v": 1}', "v: expected 2"),
        ("v2", b'{"r": [1]}', "r: expected an object"),
        ("v2", b'{"fw": 6}', "fw: expected a string"),
        ("v2", b'{"up": "1"}', "up: expected a non-negative integer"),
        ("v9", b"{}", "unknown payload version 'v9'"),
    ],
)
def test_rejection_reasons(version: str, payload: bytes, reason: str) -> None:
    """Each kind of undecodable payload is rejected with its short, fixed reason."""
    assert decode(version, payload, MAX) == Rejected(reason)


def test_invalid_sensor_entries_are_skipped_and_counted() -> None:
    """Bad sensor entries are dropped one by one; the others and the top level are kept."""
    payload = (
        b'{"firmware": "f", "sensors": ['
        b'{"id": "ok", "value": 1},'
        b'{"id": "bool", "value": true},'
        b'{"id": "text", "value": "22.5"},'
        b'{"id": "huge", "value": 1e400},'
        b'{"id": "long", "value": ' + b"9" * 400 + b"},"
        b'{"id": "", "value": 1},'
        b'{"value": 1},'
        b'{"id": "label", "label": 3},'
        b'"not an object",'
        b'{"id": "null", "value": null}]}'
    )
    assert decode("v1", payload, MAX) == Reading(
        firmware="f",
        sensors=(SensorValue(key="ok", value=1.0), SensorValue(key="null", value=None)),
        skipped_sensors=8,
        non_finite=2,  # 1e400 and the 400-digit integer: counted apart, not silently lost
    )
    v2 = (b'{"r": {"ok": [1, "u", "t"], "short": [1, "u"], "bad": [true, "u", "t"], "n": 5, '
          b'"inf": [-1e400, "u", "t"]}}')
    assert decode("v2", v2, MAX) == Reading(
        sensors=(SensorValue(key="ok", value=1.0, unit="u", sensor_type="t"),),
        skipped_sensors=4,
        non_finite=1,
    )


def test_repeated_sensor_key_keeps_first_position_and_last_value() -> None:
    """A sensor named twice appears once: at its first position, with its last value."""
    payload = b'{"sensors": [{"id": "a", "value": 1}, {"id": "b"}, {"id": "a", "value": 2}]}'
    result = decode("v1", payload, MAX)
    assert isinstance(result, Reading)
    assert [(s.key, s.value) for s in result.sensors] == [("a", 2.0), ("b", None)]


def test_a_decoder_that_raises_becomes_a_rejection(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in a registered decoder is contained by decode() as a Rejected naming it."""

    def broken(payload: bytes) -> Reading | Rejected:
        raise KeyError(payload)

    monkeypatch.setitem(payloads._DECODERS, "broken", broken)
    assert decode("broken", b"{}", MAX) == Rejected("decoder broken failed: KeyError")


def test_a_version_registers_once() -> None:
    """Registering an existing version name is a ConfigError, so no decoder is silently replaced."""
    with pytest.raises(ConfigError, match="already registered"):
        register("v1")(payloads.decode_v1)


# ---------------------------------------------------------------------------- status, guess, log


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"online", "online"),
        (b"offline", "offline"),
        (b" OnLine\r\n", "online"),
        (b'"offline"', "offline"),
        (b'{"status": " Online ", "at": 1}', "online"),
        (b"", Rejected("status: expected online or offline")),
        (b"on line", Rejected("status: expected online or offline")),
        (b'{"state": "online"}', Rejected("status: expected online or offline")),
        (b"\xff", Rejected("status: expected online or offline")),
        (b" " * 5000, Rejected("status: payload too large")),
    ],
)
def test_decode_status(payload: bytes, expected: object) -> None:
    """Status payloads: the bare word, a JSON string or {"status": ...}, case and space ignored."""
    assert decode_status(payload) == expected


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b'{"firmware": "x", "sensors": []}', "v1"),
        (b'{"sensors": [{"id": "t"}]}', "v1"),
        (b'{"v": 2, "fw": "x"}', "v2"),
        (b'{"r": {"t": [1, "C", "temperature"]}}', "v2"),
        (b"{}", None),
        (b"online", None),
        (b"\xff", None),
    ],
)
def test_guess_payload_version(payload: bytes, expected: str | None) -> None:
    """Discovery guesses the first version that reads something from the payload."""
    assert guess_payload_version(payload) == expected


@given(payload=st.binary(max_size=600), limit=st.integers(1, 300))
def test_preview_is_one_printable_line(payload: bytes, limit: int) -> None:
    """preview() is printable (no newline or control character) and covers at most `limit` bytes."""
    text = preview(payload, limit)
    assert text.isprintable()
    assert text.endswith("…") == (len(payload) > limit)
    if len(payload) <= limit and payload.isascii() and payload.decode().isprintable():
        assert text == payload.decode()


def test_preview_keeps_readable_text() -> None:
    """Readable UTF-8 is shown as is; control bytes and broken UTF-8 as escapes."""
    assert preview("°C ok".encode()) == "°C ok"
    assert preview(b"a\nb\x00\xff") == "a\\nb\\x00\\xff"
    assert preview(b"x" * 201) == "x" * 200 + "…"
