"""Dataloggers, gateways and sensors: read from storage, which the writer keeps current
within one flush; changes to a device are also told to its actor at once.

Handlers run on the event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, Request, delete, get, patch
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter
from litestar.response import Stream
from litestar.status_codes import HTTP_204_NO_CONTENT

from sitelink.actors.site_messages import ForgetDevice, SetDeviceOfflineAfter
from sitelink.api.audit import record
from sitelink.api.auth import ADMIN
from sitelink.api.csv_export import attachment, csv_row
from sitelink.api.schemas import DataloggerUpdate, OptionalQueryId, PathId, QueryId
from sitelink.errors import ValidationError
from sitelink.events import DeviceKey
from sitelink.runtime import Runtime
from sitelink.storage import devices as device_store
from sitelink.storage import sensors as sensor_store
from sitelink.storage.devices import DevicePatch, DeviceRecord
from sitelink.storage.sensors import SensorRecord
from sitelink.times import iso_time, parse_iso


def device_json(d: DeviceRecord) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": d.id, "site_id": d.site_id, "serial_number": d.serial, "label": d.label,
        "availability": d.availability, "is_online": d.availability == "online",
        "firmware_version": d.firmware, "uptime_percentage": round(d.uptime_percentage, 2),
        "offline_after_s": d.offline_after_s, "last_seen_at": iso_time(d.last_seen_at),
        "discovered_at": iso_time(d.discovered_at),
    }
    if d.kind == "datalogger":
        body.update(model=d.model, gateway=d.gateway, sensors_count=d.sensors_count)
    return body


def sensor_json(s: SensorRecord, online: bool) -> dict[str, Any]:
    return {"id": s.id, "datalogger_id": s.device_id, "key": s.key, "label": s.label,
            "sensor_type": s.sensor_type, "is_online": online, "current_value": s.current_value,
            "unit_of_measure": s.unit, "updated_at": iso_time(s.updated_at)}


class DataloggerController(Controller):
    path = "/api/v1/mqtt/dataloggers"
    tags = ["devices"]

    @get("/")
    async def list_dataloggers(
        self, runtime: NamedDependency[Runtime], site_id: OptionalQueryId = None,
        online_only: bool = Parameter(default=False),
    ) -> dict[str, Any]:
        rows = await device_store.list_devices(runtime.db, "datalogger", site_id=site_id,
                                               online_only=online_only)
        return {"dataloggers": [device_json(d) for d in rows]}

    @get("/{device_id:int}/")
    async def get_datalogger(
        self, runtime: NamedDependency[Runtime], device_id: PathId,
    ) -> dict[str, Any]:
        """One datalogger with its sensors and availability history (newest first)."""
        detail = await device_store.get_device(runtime.db, device_id, kind="datalogger")
        online = detail.device.availability == "online"
        return {
            **device_json(detail.device),
            "sensors": [sensor_json(s, online) for s in detail.sensors],
            "availability_history": [
                {"availability": i.availability, "started_at": iso_time(i.started_at),
                 "ended_at": iso_time(i.ended_at)} for i in detail.history],
        }

    @patch("/{device_id:int}/", opt=ADMIN)
    async def update_datalogger(
        self, request: Request[Any, Any, Any], runtime: NamedDependency[Runtime],
        device_id: PathId, data: JSONBody[DataloggerUpdate],
    ) -> dict[str, Any]:
        """Change ``label`` or ``offline_after_s`` (null: back to the site's default)."""
        changes = {k: v for k, v in msgspec.structs.asdict(data).items()
                   if v is not msgspec.UNSET}
        updated = await device_store.update_device(runtime.db, device_id, DevicePatch(**changes),
                                                   kind="datalogger")
        key = DeviceKey(updated.site_id, "datalogger", updated.serial)
        if "offline_after_s" in changes:
            own = changes["offline_after_s"]
            runtime.tell_site(updated.site_id,
                              SetDeviceOfflineAfter(
                device=key, seconds=None if own is None else float(own)))
        await record(request, "datalogger.update", target=updated.serial,
                     detail={"datalogger_id": device_id, "fields": sorted(changes)})
        return device_json(updated)

    @delete("/{device_id:int}/", opt=ADMIN, status_code=HTTP_204_NO_CONTENT)
    async def delete_datalogger(
        self, request: Request[Any, Any, Any], runtime: NamedDependency[Runtime],
        device_id: PathId,
    ) -> None:
        """Forget a device; it is rediscovered if it speaks again."""
        key = await device_store.delete_device(runtime.db, device_id, kind="datalogger")
        runtime.forget_device(key)
        runtime.tell_site(key.site_id, ForgetDevice(device=key))
        await record(request, "datalogger.delete", target=key.serial,
                     detail={"datalogger_id": device_id, "site_id": key.site_id})


class GatewayController(Controller):
    path = "/api/v1/mqtt/gateways"
    tags = ["devices"]

    @get("/")
    async def list_gateways(self, runtime: NamedDependency[Runtime],
                            site_id: OptionalQueryId = None) -> dict[str, Any]:
        rows = await device_store.list_devices(runtime.db, "gateway", site_id=site_id)
        return {"gateways": [device_json(d) for d in rows]}


class SensorController(Controller):
    path = "/api/v1/mqtt/sensors"
    tags = ["devices"]

    @get("/by_datalogger")
    async def by_datalogger(
        self, runtime: NamedDependency[Runtime], datalogger_id: QueryId,
    ) -> dict[str, Any]:
        detail = await device_store.get_device(runtime.db, datalogger_id, kind="datalogger",
                                               history_limit=0)
        online = detail.device.availability == "online"
        return {"sensors": [sensor_json(s, online) for s in detail.sensors]}

    @get("/{sensor_id:int}/readings")
    async def readings(
        self, runtime: NamedDependency[Runtime], sensor_id: PathId,
        since: str | None = Parameter(default=None), until: str | None = Parameter(default=None),
        limit: int = Parameter(default=1000, ge=1, le=10_000),
        bucket_s: int | None = Parameter(default=None, ge=1, le=86_400),
    ) -> dict[str, Any]:
        """Readings oldest first; ``since``/``until`` are ISO 8601 times. With ``bucket_s``
        one row per bucket (min, avg, max, count), computed by the database."""
        if bucket_s is not None:
            buckets = await sensor_store.bucketed_readings(
                runtime.db, sensor_id, bucket_s, since=_when("since", since),
                until=_when("until", until), limit=limit)
            return {"readings": [{"at": iso_time(b.at), "min": b.min, "avg": b.avg, "max": b.max,
                                  "count": b.count} for b in buckets]}
        rows = await sensor_store.readings(runtime.db, sensor_id, since=_when("since", since),
                                           until=_when("until", until), limit=limit)
        return {"readings": [{"at": iso_time(r.at), "value": r.value} for r in rows]}

    @get("/{sensor_id:int}/readings.csv", media_type="text/csv")
    async def readings_csv(
        self, runtime: NamedDependency[Runtime], sensor_id: PathId,
        since: str | None = Parameter(default=None), until: str | None = Parameter(default=None),
    ) -> Stream:
        """Every reading of the window as CSV (``at,value``), streamed page by page."""
        sensor = await sensor_store.get_sensor(runtime.db, sensor_id)
        pages = sensor_store.iter_readings(runtime.db, sensor_id, since=_when("since", since),
                                           until=_when("until", until))

        async def lines() -> AsyncIterator[str]:
            yield csv_row(["at", "value"])
            async for page in pages:
                yield "".join(csv_row([iso_time(r.at), repr(r.value)]) for r in page)

        filename = f"sensor-{sensor.id}-{sensor.key}.csv"
        return Stream(lines(), media_type="text/csv",
                      headers={"Content-Disposition": attachment(filename)})


def _when(field: str, text: str | None) -> datetime | None:
    if text is None or text == "":
        return None
    try:
        return parse_iso(text)
    except ValueError:
        raise ValidationError(field, f"expected an ISO 8601 time, got {text!r}") from None
