"""Alert rules: ``GET/POST /api/v1/alerts/rules``, ``PATCH/DELETE .../{id}``.

Handlers run on the event loop. A change is written to storage, then the evaluator takes
the new rules at once (``AlertService.rules_changed``), and the audit log records it.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from sitelink.alerts.model import Rule, RuleKind
from sitelink.alerts.service import AlertService
from sitelink.api.alert_schemas import RuleCreate, RuleList, RuleUpdate, given
from sitelink.api.audit import record
from sitelink.api.auth import ADMIN
from sitelink.api.schemas import PathId
from sitelink.errors import NotFound, ValidationError
from sitelink.runtime import Runtime
from sitelink.storage import alert_config
from sitelink.storage import sites as site_store


def service(runtime: Runtime) -> AlertService:
    if runtime.alerts is None:
        raise RuntimeError("the runtime is not started")
    return runtime.alerts


async def check_rule(runtime: Runtime, fields: dict[str, Any]) -> None:
    """What one field's type cannot say; ``ValidationError`` names the field."""
    if fields["kind"] is RuleKind.SENSOR_THRESHOLD:
        if not fields.get("sensor_key"):
            raise ValidationError("sensor_key", "required for a sensor_threshold rule")
        if fields.get("min") is None and fields.get("max") is None:
            raise ValidationError("min", "a sensor_threshold rule needs min and/or max")
        low, high = fields.get("min"), fields.get("max")
        if low is not None and high is not None and low > high:
            raise ValidationError("min", "must not be greater than max")
    if fields.get("site_id") is not None:
        try:
            await site_store.get_site(runtime.db, fields["site_id"])
        except NotFound:
            raise ValidationError("site_id", f"no site with id {fields['site_id']}") from None
    known = {c.id for c in await alert_config.list_channels(runtime.db)}
    missing = [i for i in fields.get("channel_ids", []) if i not in known]
    if missing:
        raise ValidationError("channel_ids", f"no channel with id {missing[0]}")


class AlertRuleController(Controller):
    path = "/api/v1/alerts/rules"
    tags = ["alerts"]

    @get("/")
    async def list_rules(self, runtime: NamedDependency[Runtime]) -> RuleList:
        """Every alert rule, by id."""
        return RuleList(rules=await alert_config.list_rules(runtime.db))

    @post("/", opt=ADMIN, status_code=HTTP_201_CREATED)
    async def create_rule(self, request: Request[Any, Any, Any],
                          runtime: NamedDependency[Runtime], data: JSONBody[RuleCreate]) -> Rule:
        """Create a rule; it looks at the live state at once."""
        fields = given(data)
        await check_rule(runtime, fields)
        rule = await alert_config.create_rule(runtime.db, fields)
        await service(runtime).rules_changed()
        await record(request, "alert.rule.create", target=rule.name,
                     detail={"rule_id": rule.id, "kind": rule.kind.value})
        return rule

    @patch("/{rule_id:int}", opt=ADMIN)
    async def update_rule(self, request: Request[Any, Any, Any],
                          runtime: NamedDependency[Runtime], rule_id: PathId,
                          data: JSONBody[RuleUpdate]) -> Rule:
        """Change a rule; alerts outside its new scope resolve."""
        current = await alert_config.get_rule(runtime.db, rule_id)
        changes = given(data)
        merged = {name: getattr(current, name) for name in RuleCreate.__struct_fields__}
        merged.update(changes)
        await check_rule(runtime, merged)
        rule = await alert_config.update_rule(runtime.db, rule_id, changes)
        await service(runtime).rules_changed()
        await record(request, "alert.rule.update", target=rule.name,
                     detail={"rule_id": rule_id, "fields": sorted(changes)})
        return rule

    @delete("/{rule_id:int}", opt=ADMIN, status_code=HTTP_204_NO_CONTENT)
    async def delete_rule(self, request: Request[Any, Any, Any],
                          runtime: NamedDependency[Runtime], rule_id: PathId) -> None:
        """Delete a rule; what it fired resolves (its history stays, without the rule)."""
        rule = await alert_config.get_rule(runtime.db, rule_id)
        await alert_config.delete_rule(runtime.db, rule_id)
        await service(runtime).rules_changed()
        await record(request, "alert.rule.delete", target=rule.name, detail={"rule_id": rule_id})
