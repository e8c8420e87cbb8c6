"""README.md against the code it documents: every setting in the configuration table, and a
curl example for every route of the API that names a real route and method."""

from __future__ import annotations

import re
from pathlib import Path

from sitelink.api.app import create_app
from sitelink.settings import _ENV, Settings

from .support import REPO

README = (REPO / "README.md").read_text()
METHODS = ("get", "post", "patch", "delete", "put")


def _curl_examples() -> list[tuple[str, str]]:
    """(METHOD, path without query or trailing slash) of every curl line in a shell block."""
    examples = []
    for block in re.findall(r"^```sh\n(.*?)^```", README, re.M | re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if not line.startswith("curl "):
                continue
            url = re.search(r"http://127\.0\.0\.1:8000(/[^\s'\"?]*)", line)
            assert url, line
            method = re.search(r"-X (\w+)", line)
            verb = method[1] if method else ("POST" if " -d " in line else "GET")
            examples.append((verb, url[1].rstrip("/") or "/"))
    return examples


def _routes(tmp_path: Path) -> dict[str, set[str]]:
    """The app's own OpenAPI paths (no trailing slashes) with their methods."""
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'unused.db'}"))
    paths = app.openapi_schema.paths or {}
    return {path: {m.upper() for m in METHODS if getattr(item, m, None)}
            for path, item in paths.items()}


def test_readme_configuration_lists_every_setting() -> None:
    """Each environment variable that settings.py reads has its own row in the table."""
    for name in _ENV:
        assert re.search(rf"^\| `{name}` \| ", README, re.M), f"{name} is not in the README"


def test_readme_curl_examples_cover_every_route_with_real_paths(tmp_path: Path) -> None:
    """Every curl example names a route and method that exist, and every route and method
    of the API has at least one example."""
    routes = _routes(tmp_path)
    patterns = {path: re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$")
                for path in routes}
    covered: set[tuple[str, str]] = set()
    for verb, path in _curl_examples():
        matches = [route for route, pattern in patterns.items() if pattern.match(path)]
        assert matches, f"{verb} {path}: no such route"
        # A literal path (sites/export) wins over a template of the same shape (sites/{id}).
        route = path if path in routes else max(matches, key=len)
        assert verb in routes[route], f"{verb} {path}: {route} takes {sorted(routes[route])}"
        covered.add((verb, route))
    missing = {(verb, route) for route, verbs in routes.items() for verb in verbs} - covered
    assert not missing, f"routes without a curl example in the README: {sorted(missing)}"
