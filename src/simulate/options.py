"""What to simulate: ``SimulateOptions``, validated when built."""

from __future__ import annotations

from typing import Literal

import msgspec

from sitelink.errors import ValidationError

PAYLOADS = ("v1", "v2", "mixed", "by-site", "csi", "sparkplug_b")


class SimulateOptions(msgspec.Struct, frozen=True, kw_only=True):
    """What to simulate. ``max_messages`` counts heartbeats; ``seed`` makes a run repeatable.

    ``payload_version="mixed"``: even-numbered devices of a site speak v1, odd ones v2 (on
    the same topics: the receiver needs a subscription per version to tell them apart).
    ``payload_version="by-site"``: every even-numbered site (site_002, …) speaks v2.
    ``payload_version="csi"``: dataloggers publish Campbell Scientific CSI-JSON (read it with a
    ``mapped`` subscription), gateways v1. ``payload_version="sparkplug_b"``: gateways are
    Sparkplug B edge nodes of group = site code, dataloggers their devices (``formats``).
    ``flaky``: at each of its heartbeats a device goes silent with this probability.
    """

    host: str = "127.0.0.1"
    port: int = 1883
    sites: int = 1
    dataloggers: int = 10
    gateways: int = 1
    interval_s: float = 5.0
    payload_version: Literal["v1", "v2", "mixed", "by-site", "csi", "sparkplug_b"] = "v1"
    flaky: float = 0.0
    qos: int = 0
    seed: int | None = None
    duration_s: float | None = None
    max_messages: int | None = None
    code_prefix: str = "site_"
    progress: bool = True

    def __post_init__(self) -> None:
        for name, ok, why in (
            ("sites", self.sites >= 1, "must be at least 1"),
            ("dataloggers", self.dataloggers >= 0, "must not be negative"),
            ("gateways", self.gateways >= 0, "must not be negative"),
            ("dataloggers", self.dataloggers + self.gateways > 0, "no devices to simulate"),
            ("interval_s", self.interval_s > 0, "must be positive"),
            ("flaky", 0 <= self.flaky <= 1, "must be between 0 and 1"),
            ("qos", self.qos in (0, 1, 2), "must be 0, 1 or 2"),
            (
                "payload_version",
                self.payload_version in PAYLOADS,
                "|".join(PAYLOADS),
            ),
            (
                "gateways",
                self.payload_version != "sparkplug_b" or self.gateways >= 1,
                "sparkplug_b needs at least one gateway (the edge node)",
            ),
        ):
            if not ok:
                raise ValidationError(name, why)

    @property
    def devices(self) -> int:
        return self.sites * (self.dataloggers + self.gateways)

    @property
    def rate(self) -> float:
        """Heartbeats per second that this fleet publishes (statuses not counted)."""
        return self.devices / self.interval_s
