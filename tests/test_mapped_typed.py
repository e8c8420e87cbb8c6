"""The typed fast path of ``mapped`` (``jmespath_typed``) gives the generic path's readings.

``decode_mapped`` decodes a payload into Structs derived from the map when it can, and into
dicts (the generic path) otherwise; the two must never disagree. Hypothesis writes the JSON
text itself, so the payloads also hold what a dict cannot show: keys given twice, numbers
out of the float range (``1e400``), integers of many digits, escapes, non-ASCII text, nulls
everywhere; the maps are drawn from paths of every shape the typed path handles and some it
does not (which must fall back, in whole or for the per-item expressions).
"""

from __future__ import annotations

import json
import math
from typing import Any

import jmespath
import msgspec
import msgspec.inspect as mi
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sitelink.payloads import Reading, Rejected
from sitelink.payloads.jmespath_typed import typed_reader
from sitelink.payloads.mapped import CompiledMap, compile_payload_map, decode_mapped
from sitelink.payloads.parsing import parse_json

CSI_MAP = {"keys": "head.fields[].name", "values": "data[-1].vals",
           "units": "head.fields[].units", "firmware": "head.environment.os_version",
           "at": "data[-1].time"}

NAMES = ["a", "b", "c"]
TYPED_PATHS = ["a", "a.b", "a.b.c", "b.a", "c", "a[0]", "a[-1]", "a[-1].b", "a[*].b", "a[].b",
               "a[]", "a[].b[]", "a[].b[].c", "a[*]", "a[0][1]", "a.b[*].c", "a[*].b[0]",
               "a[0].b[*].c", "@", '"a"."b"']
OTHER_PATHS = ["keys(a)", "a[?b > `1`].c", "a[1:2]", "a.*", "a | b", "to_number(a)"]
PATHS = TYPED_PATHS + OTHER_PATHS

NUMBERS = st.sampled_from(["0", "-0.0", "1", "-7", "2.5", "1e3", "1E-3", "1e400", "-1e400",
                           "1e-400", "123456789012345678901234567890", "9007199254740993",
                           "0.1000000000000000055511151231257827", "20.142857142857142"])
STRINGS = st.sampled_from(['""', '"x"', '"Deg C"', '"°C"', '"\\u00b0C"', '"NAN"', '"s\\"1"',
                           '"2026-12-05T23:00:00"', '"2026-12-05T23:00:00+01:00"', '"nope"'])


def _object(pairs: list[tuple[str, str]]) -> str:
    return "{" + ",".join(f"{json.dumps(key)}:{value}" for key, value in pairs) + "}"


scalars = st.sampled_from(["null", "true", "false"]) | NUMBERS | STRINGS


def _list(items: list[str]) -> str:
    return "[" + ",".join(items) + "]"


json_text = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4).map(_list)
    | st.lists(st.tuples(st.sampled_from(NAMES), inner), max_size=4).map(_object),
    max_leaves=12,
)
# Parts shaped the way the paths read them, so that names and values often line up into
# sensors: columns of names and of numbers, objects of them, lists of such objects.
names = st.lists(STRINGS | st.sampled_from(['"t1"', '"t2"', "7"]), min_size=1, max_size=4)
numbers = st.lists(NUMBERS, min_size=1, max_size=4)
columns = (names | numbers).map(_list)
items = st.lists(st.tuples(st.sampled_from(NAMES), STRINGS | NUMBERS | columns | json_text),
                 min_size=1, max_size=4).map(_object)
parts = (columns | items | st.lists(items, max_size=4).map(_list)
         | st.lists(st.tuples(st.sampled_from(NAMES), columns | items), max_size=3).map(_object)
         | st.lists(st.lists(items, max_size=3).map(_list), max_size=3).map(_list)
         | json_text)
documents = st.lists(st.tuples(st.sampled_from(NAMES), parts), max_size=4).map(_object)

# Half the time a path that often lands on a column, so that sensors come out.
paths = st.sampled_from(PATHS) | st.sampled_from(["a", "b", "c", "a.b", "b.a", "a[*].a",
                                                  "a[].b", "a[-1].b", "a[0]", "a[].b[]"])
# At most one of firmware, uptime_s and at, so that most payloads get as far as the sensors.
common = st.dictionaries(st.sampled_from(["firmware", "uptime_s", "at"]), paths, max_size=1)
parallel_maps = st.builds(
    lambda required, optional, extra: {**required, **optional, **extra},
    st.fixed_dictionaries({"keys": paths, "values": paths}),
    st.dictionaries(st.sampled_from(["units", "labels"]), paths, max_size=2), common)
list_maps = st.builds(
    lambda required, optional, extra: {**required, **optional, **extra},
    st.fixed_dictionaries({"sensors": paths, "key": paths, "value": paths}),
    st.dictionaries(st.sampled_from(["unit", "label", "type"]), paths, max_size=3), common)


def both_paths(compiled: CompiledMap, payload: bytes) -> tuple[object, object]:
    generic = msgspec.structs.replace(compiled, typed=None, typed_readers=None)
    return decode_mapped(compiled, payload), decode_mapped(generic, payload)


def fitting(info: mi.Type) -> st.SearchStrategy[str]:
    """JSON text of the shape the typed decoder expects (``info``), now and then something
    else in its place; objects get their keys in any order, some twice, some left out, and
    keys no expression reads."""
    if isinstance(info, mi.StructType):
        pairs = [st.tuples(st.just(field.encode_name), fitting(field.type))
                 for field in info.fields]
        extra = st.lists(st.one_of([*pairs, st.tuples(st.sampled_from(["x", "y"]), json_text)]),
                         max_size=2)  # a key given twice, a key nobody reads
        return st.tuples(st.tuples(*pairs), extra).flatmap(
            lambda both: st.permutations([*both[0], *both[1]])).map(_object)
    if isinstance(info, mi.UnionType):  # a Struct or a list, or null
        return st.one_of([fitting(t) for t in info.types if not isinstance(t, mi.NoneType)]
                         + [st.just("null")])
    if isinstance(info, mi.ListType):
        return st.lists(fitting(info.item_type), min_size=1, max_size=4).map(_list)
    return scalars | columns | parts  # a value read whole: anything, often a column


@settings(max_examples=400, deadline=None)
@given(payload_map=parallel_maps | list_maps, document=documents)
def test_the_typed_path_reads_what_the_generic_path_reads(
    payload_map: dict[str, str], document: str
) -> None:
    """For any map of these paths and any such document: the same Reading or Rejected."""
    compiled = compile_payload_map(payload_map)
    fast, generic = both_paths(compiled, document.encode())
    assert fast == generic


@settings(max_examples=400, deadline=None)
@given(payload_map=parallel_maps | list_maps, data=st.data())
def test_documents_that_fit_the_map_read_the_same_both_ways(
    payload_map: dict[str, str], data: st.DataObject
) -> None:
    """The same, with documents shaped after the map's own Structs: the typed decoder takes
    most of them, so here its readings are compared rather than its fallback's."""
    compiled = compile_payload_map(payload_map)
    if compiled.typed is None:
        return
    document = data.draw(fitting(mi.type_info(compiled.typed.decoder.type)))
    fast, generic = both_paths(compiled, document.encode())
    assert fast == generic


def same(typed: Any, generic: Any) -> bool:
    """``typed`` (Structs where the expressions step into objects) holds what ``generic``
    (dicts) holds under the keys the Structs keep; everything else is equal."""
    if isinstance(typed, msgspec.Struct):
        return isinstance(generic, dict) and all(
            same(getattr(typed, field.name), generic.get(field.encode_name))
            for field in mi.type_info(type(typed)).fields)  # type: ignore[attr-defined]
    if isinstance(typed, list):
        return isinstance(generic, list) and len(typed) == len(generic) and all(
            same(a, b) for a, b in zip(typed, generic, strict=True))
    return type(typed) is type(generic) and typed == generic


@settings(max_examples=400, deadline=None)
@given(names=st.lists(st.sampled_from(TYPED_PATHS), min_size=1, max_size=3), data=st.data())
def test_each_typed_accessor_answers_what_jmespath_answers(
    names: list[str], data: st.DataObject
) -> None:
    """Expression by expression, on documents of their shape (several expressions at once,
    so that they share nodes): the accessor over the Structs gives jmespath's answer over the
    dicts, wherever the typed decoder takes the document."""
    parsed = {f"e{i}": jmespath.compile(expression) for i, expression in enumerate(names)}
    reader = typed_reader(parsed, {}, None, {})
    if reader is None:  # an object in one expression is a list in another
        return
    document = data.draw(fitting(mi.type_info(reader.decoder.type))).encode()
    typed_doc = reader.decode(document)
    if typed_doc is None:
        return
    generic_doc = parse_json(document)
    for name, expression in parsed.items():
        assert same(reader.expressions[name](typed_doc), expression.search(generic_doc))


csi_fields = st.lists(
    st.fixed_dictionaries({"name": STRINGS | NUMBERS | st.just("null")},
                          optional={"units": STRINGS | st.just("null"), "type": STRINGS})
    .map(lambda fields: _object(list(fields.items()))),
    max_size=6,
).map(_list)
csi_values = st.lists(NUMBERS | STRINGS | st.just("null"), max_size=6).map(_list)


@settings(max_examples=300, deadline=None)
@given(fields=csi_fields | json_text, values=csi_values | json_text, time=STRINGS | NUMBERS,
       os_version=STRINGS | NUMBERS | json_text, extra=json_text)
@example(fields='[{"name":"a","units":"V"},{"name":"a","units":"W"}]', values="[1.5,2.5]",
         time='"2026-12-05T23:00:00"', os_version='"x"', extra="1")  # a key given twice
def test_csi_shaped_payloads_read_the_same_both_ways(
    fields: str, values: str, time: str, os_version: str, extra: str
) -> None:
    """CSI-JSON-like payloads (the common case of the fast path), with every part varied."""
    head = _object([("environment", _object([("os_version", os_version)])),
                    ("fields", fields), ("signature", extra)])
    record = _object([("time", time), ("no", "1"), ("vals", values)])
    payload = _object([("head", head), ("data", f"[{extra},{record}]")]).encode()
    compiled = compile_payload_map(CSI_MAP)
    assert compiled.typed is not None
    fast, generic = both_paths(compiled, payload)
    assert fast == generic


@given(payload=st.binary(max_size=200))
def test_any_bytes_read_the_same_both_ways(payload: bytes) -> None:
    """Bytes that are not even JSON: the fast path hands them to the generic one."""
    fast, generic = both_paths(compile_payload_map(CSI_MAP), payload)
    assert fast == generic


def test_bytes_the_typed_decoder_would_skip_unread_are_still_checked() -> None:
    """Invalid UTF-8, a number out of range, or nesting too deep in a part the map does not
    read: msgspec would skip it, the generic path refuses or keeps it; both ways agree."""
    compiled = compile_payload_map(CSI_MAP)
    deep = "[" * 5000 + "]" * 5000
    for payload in (b'{"x":"\xff","data":[]}', b'{"x":1e400,"data":[{"vals":[1e400]}]}',
                    f'{{"x":{deep},"data":[]}}'.encode(), b'{"data":[]} trailing'):
        fast, generic = both_paths(compiled, payload)
        assert fast == generic and isinstance(fast, Reading | Rejected)


def test_which_maps_get_a_typed_path() -> None:
    """Paths get one; functions do not, unless only per-item expressions use them over items
    nothing else looks into (then the items are decoded whole)."""
    assert compile_payload_map(CSI_MAP).typed is not None
    assert compile_payload_map({"keys": "keys(values)", "values": "values(values)"}).typed is None
    assert compile_payload_map({"keys": "a.b", "values": "a[0]"}).typed is None  # object, list
    hybrid = compile_payload_map({"sensors": "channels", "key": "id", "value": "to_number(v)"})
    assert hybrid.typed is not None
    reading = decode_mapped(hybrid, b'{"channels":[{"id":"t","v":"2.5"},{"id":"u","v":3}]}')
    assert isinstance(reading, Reading)
    assert [(s.key, s.value) for s in reading.sensors] == [("t", 2.5), ("u", 3.0)]


def test_the_typed_path_reads_the_csi_example() -> None:
    """The README's CSI-JSON example, through the typed path: names, units, values, time."""
    payload = json.dumps({
        "head": {"environment": {"os_version": "CR1000X.Std.06"},
                 "fields": [{"name": "BattV", "units": "Volts"}, {"name": "T", "units": "°C"},
                            {"name": "RH", "units": "%"}]},
        "data": [{"time": "2026-12-05T23:00:00", "vals": [12.5, 9.1, "NAN"]}],
    }).encode()
    compiled = compile_payload_map(CSI_MAP)
    assert compiled.typed is not None and compiled.typed.decode(payload) is not None
    reading = decode_mapped(compiled, payload)
    assert isinstance(reading, Reading)
    assert [(s.key, s.value, s.unit) for s in reading.sensors] == [
        ("BattV", 12.5, "Volts"), ("T", 9.1, "°C")]
    assert reading.skipped_sensors == 1 and reading.at == 1_796_511_600.0


def test_a_key_given_as_a_number_and_as_a_string_is_one_sensor() -> None:
    """7 and "7" are the same sensor key: first position, last value (as v1 does)."""
    compiled = compile_payload_map({"keys": "k", "values": "v"})
    reading = decode_mapped(compiled, b'{"k":[7,"t","7"],"v":[1.5,2.5,3.5]}')
    assert isinstance(reading, Reading)
    assert [(s.key, s.value) for s in reading.sensors] == [("7", 3.5), ("t", 2.5)]


any_item = st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(
    ["", "t1", "t2", "7", "°C", "NAN"]) | st.floats() | st.lists(st.integers(), max_size=1)


names_ = st.sampled_from(["t1", "t2", "t3"])
finite = st.floats(allow_nan=False, allow_infinity=False)
# Lists whose sensors are all common ones (repeated keys among them), and lists of anything.
plain_lists = st.lists(st.tuples(names_, finite, st.just("V")), max_size=6).map(
    lambda rows: ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], None))
any_lists = st.tuples(st.lists(names_ | any_item, max_size=6),
                      st.lists(finite | st.sampled_from([math.inf, -math.inf, math.nan])
                               | any_item, max_size=6),
                      st.none() | st.lists(st.just("V") | any_item, max_size=6),
                      st.none() | st.lists(st.just("L") | any_item, max_size=6))


@settings(max_examples=300)
@given(lists=plain_lists | any_lists)
@example(lists=(["t1", "t2"], [math.inf, 1.5], None, None))
@example(lists=(["t1", "t2"], [math.nan, 1.5], ["V"], ["L", 3]))
def test_the_parallel_lists_give_what_one_check_per_sensor_gives(
    lists: tuple[list[Any], list[Any], list[Any] | None, list[Any] | None],
) -> None:
    """The comprehension that makes the common sensor itself (and merges keys only when
    they repeat) gives what checking every sensor with ``_sensor`` and merging gives."""
    from sitelink.payloads.mapped import Readers, _parallel, _sensor
    from sitelink.payloads.parsing import unique_sensors

    keys, values, units, labels = lists
    doc = {"keys": keys, "values": values, "units": units, "labels": labels}
    readers = Readers(**{name: (lambda d, n=name: d[n]) for name, found in doc.items()
                         if found is not None})
    result = _parallel(readers, doc)
    assert not isinstance(result, Rejected)
    made, total, unique = result
    expected = []
    for index, key in enumerate(keys[:len(values)]):
        unit = units[index] if units is not None and index < len(units) else None
        label = labels[index] if labels is not None and index < len(labels) else None
        sensor = _sensor(key, values[index], unit, label, None)
        if sensor is not None:
            expected.append(sensor)
    assert total == len(keys)
    assert (tuple(made) if unique else unique_sensors(made)) == unique_sensors(expected)
    assert len(made) == len(expected)
