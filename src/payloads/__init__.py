"""Heartbeat and status payloads: bytes from the broker in, a ``Reading`` or a ``Rejected`` out.

Pure functions, no I/O; they run on the hot path (once per MQTT message, on whichever
thread the site's actor runs on) and are safe to call from any thread.

``decode(version, payload, max_payload)`` never raises, whatever the bytes: a payload that
does not decode comes back as ``Rejected(reason)``, with a short reason from a small, fixed
vocabulary (``"invalid UTF-8"``, ``"not JSON"``, ``"sensors: expected a list"``, ...) that
is fit for a log line.

Tolerance (v1 and v2 alike):

- the top level must be a JSON object, and each known top-level field, when present and not
  ``null``, must have its type — otherwise the whole payload is rejected, naming the field;
- unknown fields are ignored, so devices may send more than we read;
- a sensor entry that is not valid (no key, a value that is a bool, a string, NaN or out of
  the float range, a label or unit that is not a string) is skipped and counted in
  ``Reading.skipped_sensors``; the other sensors of the payload are kept;
- a sensor key that appears twice keeps its first position and its last value.

Each JSON decoder has a fast path (msgspec decoding straight into typed structs) and, only
when that fails validation, a tolerant path that walks the untyped document and decides per
field and per sensor. Both give the same result wherever the fast path succeeds.

Modules
-------
- ``registry``: ``Reading``, ``Rejected``, ``register``, ``DECODERS``, ``decode``,
  ``guess_payload_version``, and ``preview`` for log lines;
- ``parsing``: what JSON decoders share (``parse_json``, ``finite_number``, the fast path
  with its tolerant fallback);
- ``v1``, ``v2``: one decoder each, registered when this package is imported;
- ``sparkplug``: Sparkplug B 3.0 protobuf (``sparkplug_b.proto``, its generated
  ``sparkplug_b_pb2``), stateless parts and our encoder; the per-edge-node state that
  resolves aliases is ``sitelink.actors.sparkplug_nodes``;
- ``mapped``: any JSON read through a subscription's ``payload_map`` (JMESPath), registered
  with ``register_configured`` since it needs that map; ``jmespath_typed`` decodes only what
  the map reads (msgspec Structs derived from its paths), ``jmespath_fast`` runs the
  expressions over the whole document when that cannot be done;
- ``status``: ``decode_status`` for the presence on status topics.

Adding a payload version
------------------------
Write a function from bytes to ``Reading | Rejected`` in a new module of this package (say
``v3.py``), register it under the version name that subscriptions will carry in
``payload_version``, and import that module below, next to ``v1`` and ``v2``, so that it is
registered whenever ``sitelink.payloads`` is. Nothing in the actors changes: they call
``decode(sub.payload_version, ...)``. Reuse ``parse_json`` for the UTF-8/JSON/nesting checks
and ``finite_number`` for values::

    from sitelink.events import SensorValue
    from sitelink.payloads.parsing import finite_number, parse_json
    from sitelink.payloads.registry import Reading, Rejected, register

    @register("v3")
    def decode_v3(payload: bytes) -> Reading | Rejected:
        doc = parse_json(payload)          # {"t": {"t_ext": 22.5}}
        if isinstance(doc, Rejected):
            return doc
        if not isinstance(doc, dict) or not isinstance(doc.get("t"), dict):
            return Rejected("t: expected an object")
        sensors = [
            SensorValue(key=k, value=finite_number(v))
            for k, v in doc["t"].items()
            if k and finite_number(v) is not None
        ]
        return Reading(sensors=tuple(sensors))

A decoder may raise by mistake; ``decode`` turns that into a ``Rejected`` too.
"""

from __future__ import annotations

from sitelink.payloads.parsing import finite_number, parse_json
from sitelink.payloads.registry import _DECODERS as _DECODERS  # a test swaps a decoder in
from sitelink.payloads.registry import (
    DECODERS,
    Decoder,
    Reading,
    Rejected,
    configured_decoder,
    decode,
    guess_payload_version,
    is_configured,
    payload_versions,
    preview,
    register,
    register_configured,
)
from sitelink.payloads.status import Presence, decode_status

# Importing v1 and v2 registers them, in this order: the order guess_payload_version tries.
# Their decoders and tolerant paths stay reachable here for the tests and benchmarks.
from sitelink.payloads.v1 import decode_v1 as decode_v1
from sitelink.payloads.v1 import v1_from_document as v1_from_document
from sitelink.payloads.v2 import decode_v2 as decode_v2
from sitelink.payloads.v2 import v2_from_document as v2_from_document

# Then the two that read other people's formats: Sparkplug B (binary, never guessed) and
# ``mapped`` (configured per subscription by its payload_map).
from sitelink.payloads.sparkplug import decode_sparkplug_b as decode_sparkplug_b  # isort: skip
from sitelink.payloads.mapped import compile_payload_map as compile_payload_map  # isort: skip

__all__ = [
    "DECODERS",
    "Decoder",
    "Presence",
    "Reading",
    "Rejected",
    "compile_payload_map",
    "configured_decoder",
    "decode",
    "decode_status",
    "finite_number",
    "guess_payload_version",
    "is_configured",
    "parse_json",
    "payload_versions",
    "preview",
    "register",
    "register_configured",
]
