"""``sitelink sites import FILE [--dry-run]`` and ``sitelink sites export [--format]`` as a
user runs them: a report line per row, exit 1 and nothing written for a bad file."""

from __future__ import annotations

from pathlib import Path

from cli.test_cli_arguments import run


def test_import_dry_run_import_and_export(tmp_path: Path) -> None:
    """--dry-run says what would happen and writes nothing; the import writes; export
    prints the sites back; importing the export changes nothing."""
    sites = tmp_path / "sites.yaml"
    sites.write_text("sites:\n  - {code: cli_1, name: One, broker_host: h}\n")
    dry = run(tmp_path, "sites", "import", str(sites), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "row 1: cli_1 create" in dry.stdout and "dry run: nothing written" in dry.stdout
    assert "cli_1" not in run(tmp_path, "sites", "list").stdout
    done = run(tmp_path, "sites", "import", str(sites))
    assert done.returncode == 0 and "written" in done.stdout, done.stdout + done.stderr
    exported = run(tmp_path, "sites", "export", "--format", "csv")
    assert exported.returncode == 0 and "cli_1" in exported.stdout
    back = tmp_path / "back.csv"
    back.write_text(exported.stdout)
    again = run(tmp_path, "sites", "import", str(back))
    assert "row 2: cli_1 unchanged" in again.stdout, again.stdout + again.stderr


def test_a_bad_file_exits_1_and_names_row_and_field(tmp_path: Path) -> None:
    """A bad row: its line says row and field, the exit code is 1, nothing is written."""
    sites = tmp_path / "sites.csv"
    sites.write_text("code,name,broker_host,broker_port\nok_1,A,h,1883\nbad_1,B,h,0\n")
    result = run(tmp_path, "sites", "import", str(sites))
    assert result.returncode == 1
    assert "row 3: bad_1 error (broker_port: Expected `int` >= 1)" in result.stdout
    assert "ok_1" not in run(tmp_path, "sites", "list").stdout
    missing = run(tmp_path, "sites", "import", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 1 and missing.stderr.startswith("sitelink: cannot read")
