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
from sitelink.api import device_answers as answer
from sitelink.api.audit import record
from sitelink.api.auth import ADMIN
from sitelink.api.csv_export import attachment, csv_row
from sitelink.api.schemas import DataloggerUpdate, OptionalQueryId, PathId, QueryId
from sitelink.errors import ValidationError
from sitelink.events import DeviceKey
from sitelink.runtime import Runtime
from sitelink.storage import devices as device_store
from sitelink.storage import sensors as sensor_store
from sitelink.storage.devices import DevicePatch
from sitelink.times import iso_time, parse_iso


class DataloggerController(Controller):
    path = "/api/v1/mqtt/dataloggers"
    tags = ["devices"]

    @get("/")
    async def list_dataloggers(
        self, runtime: NamedDependency[Runtime], site_id: OptionalQueryId = None,
        online_only: bool = Parameter(default=False),
    ) -> answer.DataloggerList:
        rows = await device_store.list_devices(runtime.db, "datalogger", site_id=site_id,
                                               online_only=online_only)
        return answer.DataloggerList(dataloggers=[answer.datalogger(d) for d in rows])

    @get("/{device_id:int}/")
    async def get_datalogger(
        self, runtime: NamedDependency[Runtime], device_id: PathId,
    ) -> answer.DataloggerDetail:
        """One datalogger with its sensors and availability history (newest first)."""
        detail = await device_store.get_device(runtime.db, device_id, kind="datalogger")
        return answer.datalogger_detail(detail.device, detail.sensors, detail.history)

    @patch("/{device_id:int}/", opt=ADMIN)
    async def update_datalogger(
        self, request: Request[Any, Any, Any], runtime: NamedDependency[Runtime],
        device_id: PathId, data: JSONBody[DataloggerUpdate],
    ) -> answer.Datalogger:
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
        return answer.datalogger(updated)

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
                            site_id: OptionalQueryId = None) -> answer.GatewayList:
        rows = await device_store.list_devices(runtime.db, "gateway", site_id=site_id)
        return answer.GatewayList(gateways=[answer.gateway(d) for d in rows])


class SensorController(Controller):
    path = "/api/v1/mqtt/sensors"
    tags = ["devices"]

    @get("/by_datalogger")
    async def by_datalogger(
        self, runtime: NamedDependency[Runtime], datalogger_id: QueryId,
    ) -> answer.SensorList:
        detail = await device_store.get_device(runtime.db, datalogger_id, kind="datalogger",
                                               history_limit=0)
        online = detail.device.availability == "online"
        return answer.SensorList(sensors=[answer.sensor(s, online) for s in detail.sensors])

    @get("/{sensor_id:int}/readings")
    async def readings(
        self, runtime: NamedDependency[Runtime], sensor_id: PathId,
        since: str | None = Parameter(default=None), until: str | None = Parameter(default=None),
        limit: int = Parameter(default=1000, ge=1, le=10_000),
        bucket_s: int | None = Parameter(default=None, ge=1, le=86_400),
    ) -> answer.Readings | answer.Buckets:
        """Readings oldest first; ``since``/``until`` are ISO 8601 times. With ``bucket_s``
        one row per bucket (min, avg, max, count), computed by the database."""
        if bucket_s is not None:
            buckets = await sensor_store.bucketed_readings(
                runtime.db, sensor_id, bucket_s, since=_when("since", since),
                until=_when("until", until), limit=limit)
            return answer.Buckets(readings=[answer.bucket(b) for b in buckets])
        rows = await sensor_store.readings(runtime.db, sensor_id, since=_when("since", since),
                                           until=_when("until", until), limit=limit)
        return answer.Readings(readings=[answer.reading(r) for r in rows])

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
