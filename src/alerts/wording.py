"""The words of an alert's message (what notifications and the API show)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sitelink.alerts import machine as am
from sitelink.alerts.model import Rule, RuleKind
from sitelink.readmodel import ReadModel

if TYPE_CHECKING:
    from sitelink.alerts.evaluator import Subject


def _duration(seconds: float) -> str:
    s = int(seconds)
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min"


def message(read_model: ReadModel, rule: Rule, subject: Subject, now: float, m: am.Machine,
            value: float | None = None) -> str:
    """The alert's one-line message: the site, what is wrong, for how long."""
    view = read_model.sites.get(subject.site_id)
    site = view.record.name if view is not None else f"site {subject.site_id}"
    held = f", for {_duration(now - m.since)}" if m.since is not None else ""
    if rule.kind is RuleKind.SITE_DOWN:
        status = view.status if view is not None else "gone"
        what = f"MQTT {status}"
        if view is not None and view.error_message:
            what += f" — {view.error_message}"
        return f"{site}: {what}{held}"
    if rule.kind is RuleKind.NO_DATA:
        return f"{site}: no data from any device{held}"
    device = subject.device.serial if subject.device is not None else "?"
    if rule.kind is RuleKind.DEVICE_OFFLINE:
        return f"{site}: {device} offline{held}"
    bounds = " ".join(p for p in (
        f"min {rule.min:g}" if rule.min is not None else "",
        f"max {rule.max:g}" if rule.max is not None else "") if p)
    reading = f" = {value:g}" if value is not None else ""
    return f"{site}: {device} {subject.sensor_key}{reading} outside {bounds}{held}"
