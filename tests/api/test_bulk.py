"""The bulk endpoints on a live server: import (YAML or CSV body, dry run, all or nothing,
a 400 with the per-row report) and export (YAML or CSV, no secrets); admin only."""

from __future__ import annotations

import httpx
import pytest
import yaml

from integration.live import ADMIN_TOKEN, LiveServer, unique_code

IMPORT = "/api/v1/mqtt/sites/import"
EXPORT = "/api/v1/mqtt/sites/export"


@pytest.fixture(scope="module")
def admin(server: LiveServer) -> httpx.Client:
    return server.admin()


def test_import_yaml_dry_run_then_for_real_then_export(admin: httpx.Client) -> None:
    """dry_run=1 reports and writes nothing; the same body creates the sites, which the
    site list then shows; export gives them back with their labels and no password."""
    code = unique_code("bulk")
    body = (f"sites:\n  - {{code: {code}, name: Bulk, broker_host: h, password: pw1,"
            f" labels: {{region: puglia}}}}\n").encode()
    headers = {"Content-Type": "application/yaml"}
    dry = admin.post(IMPORT, params={"dry_run": 1}, content=body, headers=headers)
    assert dry.status_code == 200, dry.text
    assert dry.json()["rows"] == [{"row": 1, "code": code, "action": "create", "errors": []}]
    assert dry.json()["applied"] is False
    assert code not in {s["code"] for s in admin.get("/api/v1/mqtt/sites/").json()["sites"]}
    done = admin.post(IMPORT, content=body, headers=headers)
    assert done.status_code == 200 and done.json()["applied"] is True, done.text
    assert code in {s["code"] for s in admin.get("/api/v1/mqtt/sites/").json()["sites"]}

    exported = admin.get(EXPORT, params={"format": "yaml"})
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/yaml")
    site = next(s for s in yaml.safe_load(exported.text)["sites"] if s["code"] == code)
    assert site["labels"] == {"region": "puglia"} and "password" not in site
    assert "pw1" not in exported.text
    csv_text = admin.get(EXPORT, params={"format": "csv"}).text
    assert csv_text.startswith("name,code,broker_host,") and code in csv_text
    again = admin.post(IMPORT, content=csv_text.encode(), headers={"Content-Type": "text/csv"})
    assert again.status_code == 200, again.text
    assert {r["action"] for r in again.json()["rows"]} == {"unchanged"}


def test_an_import_announces_each_site_as_created_or_updated(server: LiveServer,
                                                            admin: httpx.Client) -> None:
    """``site.changed`` says ``created`` for a site the import made and ``updated`` for one
    it changed (it said ``updated`` for both)."""
    old, new = unique_code("bulk"), unique_code("bulk")
    headers = {"Content-Type": "application/yaml"}
    first = admin.post(IMPORT, content=f"sites:\n  - {{code: {old}, name: A, broker_host: h}}\n"
                       .encode(), headers=headers)
    assert first.status_code == 200, first.text
    stream = server.events()
    try:
        body = (f"sites:\n  - {{code: {old}, name: B, broker_host: h}}\n"
                f"  - {{code: {new}, name: C, broker_host: h}}\n").encode()
        assert admin.post(IMPORT, content=body, headers=headers).status_code == 200
        assert stream.wait_for("site.changed", code=new).json["change"] == "created"
        assert stream.wait_for("site.changed", code=old).json["change"] == "updated"
    finally:
        stream.close()


def test_a_bad_row_is_a_400_naming_row_and_field_and_nothing_is_written(
    admin: httpx.Client,
) -> None:
    """CSV with one good row and one with a bad port: 400, the report names line 3 and
    broker_port, and the good row was not written either."""
    good, bad = unique_code("ok"), unique_code("bad")
    body = f"code,name,broker_host,broker_port\n{good},G,h,1883\n{bad},B,h,99999\n".encode()
    response = admin.post(IMPORT, content=body, headers={"Content-Type": "text/csv"})
    assert response.status_code == 400, response.text
    rows = response.json()["rows"]
    assert rows[1]["row"] == 3 and rows[1]["errors"][0]["field"] == "broker_port"
    assert good not in {s["code"] for s in admin.get("/api/v1/mqtt/sites/").json()["sites"]}


def test_a_body_of_unknown_type_or_that_does_not_parse_is_a_400(admin: httpx.Client) -> None:
    """No YAML/CSV content type: 400 naming format; YAML that does not parse: 400 naming
    the file."""
    unknown = admin.post(IMPORT, content=b"sites: []", headers={"Content-Type": "text/plain"})
    assert unknown.status_code == 400 and "format" in unknown.json()["detail"]
    broken = admin.post(IMPORT, content=b"sites: [", headers={"Content-Type": "application/yaml"})
    assert broken.status_code == 400 and "file" in broken.json()["detail"]


def test_viewers_may_not_import_or_export(server: LiveServer) -> None:
    """Both endpoints are admin only."""
    viewer = server.viewer()
    assert viewer.get(EXPORT).status_code == 403
    assert viewer.post(IMPORT, content=b"sites: []",
                       headers={"Content-Type": "application/yaml"}).status_code == 403


def test_the_dashboard_json_form_through_a_cookie_session(server: LiveServer) -> None:
    """A logged-in browser (cookie, its own Origin) may only send JSON: the import takes
    ``{"format", "content"}`` with the same dry run, report and all-or-nothing; a raw YAML
    body from the same session is 415; a wrapping that is not one names the field."""
    browser = _browser(server)
    code = unique_code("json")
    content = f"sites:\n  - {{code: {code}, name: Json, broker_host: h}}\n"
    dry = browser.post(IMPORT, params={"dry_run": 1}, json={"format": "yaml", "content": content})
    assert dry.status_code == 200, dry.text
    assert dry.json()["rows"] == [{"row": 1, "code": code, "action": "create", "errors": []}]
    assert code not in {s["code"] for s in browser.get("/api/v1/mqtt/sites/").json()["sites"]}
    done = browser.post(IMPORT, json={"format": "yaml", "content": content})
    assert done.status_code == 200 and done.json()["applied"] is True, done.text
    assert code in {s["code"] for s in browser.get("/api/v1/mqtt/sites/").json()["sites"]}

    bad = browser.post(IMPORT, json={"format": "csv",
                                     "content": f"code,name,broker_host,broker_port\n"
                                                f"{unique_code('j')},B,h,0\n"})
    assert bad.status_code == 400 and bad.json()["rows"][0]["errors"][0]["field"] == "broker_port"
    raw = browser.post(IMPORT, content=content.encode(),
                       headers={"Content-Type": "application/yaml"})
    assert raw.status_code == 415
    for wrong, field in (({"format": "xml", "content": content}, "format"),
                         ({"format": "yaml"}, "content"), ({"format": "yaml", "content": 1},
                                                           "content")):
        response = browser.post(IMPORT, json=wrong)
        assert response.status_code == 400 and field in response.json()["detail"], response.text


def test_the_export_link_works_with_the_cookie(server: LiveServer) -> None:
    """The dashboard's download link is a plain GET carrying only the session cookie."""
    response = _browser(server).get(EXPORT, params={"format": "csv"})
    assert response.status_code == 200 and response.text.startswith("name,code,")
    assert response.headers["content-disposition"] == 'attachment; filename="sites.csv"'


def _browser(server: LiveServer) -> httpx.Client:
    client = server.client()
    client.headers.update({"Origin": server.base_url})
    login = client.post("/api/v1/auth/session", json={"token": ADMIN_TOKEN})
    assert login.status_code == 200, login.text
    return client
