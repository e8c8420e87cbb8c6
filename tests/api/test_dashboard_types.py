"""The dashboard's API types (``web/src/api/schema.d.ts``, committed) are what
``openapi-typescript`` makes of the server's OpenAPI document today (issue 17: types
generated, with a test that fails when they drift).

A change to an answer's struct without ``make web-types`` fails here, naming the first lines
that differ. Needs web/openapi's npm packages (``make test`` installs them; no network).
"""

from __future__ import annotations

import difflib
import subprocess
from pathlib import Path

from fake_clock import FakeClock
from sitelink.api.openapi_dump import openapi_document

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "web" / "openapi" / "node_modules" / ".bin" / "openapi-typescript"
COMMITTED = ROOT / "web" / "src" / "api" / "schema.d.ts"


def test_the_committed_dashboard_types_match_the_server(tmp_path: Path) -> None:
    assert GENERATOR.exists(), (
        f"{GENERATOR.relative_to(ROOT)} is missing: run `make web-types` (it installs "
        "web/openapi's npm packages and regenerates the types)")
    document = tmp_path / "openapi.json"
    document.write_bytes(openapi_document(FakeClock()))
    generated = tmp_path / "schema.d.ts"
    subprocess.run([str(GENERATOR), str(document), "-o", str(generated)], check=True,
                   capture_output=True, timeout=120, cwd=GENERATOR.parents[2])
    want = generated.read_text().splitlines()
    have = COMMITTED.read_text().splitlines()
    drift = list(difflib.unified_diff(have, want, "committed", "generated now", lineterm="", n=1))
    assert not drift, ("web/src/api/schema.d.ts is stale: run `make web-types` and commit it\n"
                       + "\n".join(drift[:40]))
