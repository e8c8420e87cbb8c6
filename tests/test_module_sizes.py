"""STYLE: no module of src/ is over 400 lines (generated protobuf modules excepted)."""

from __future__ import annotations

from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
LIMIT = 400


def test_no_module_of_src_is_over_400_lines() -> None:
    modules = [p for p in SRC.rglob("*.py") if not p.name.endswith("_pb2.py")]
    assert len(modules) > 50  # the walk found the package, not an empty directory
    too_long = {
        str(p.relative_to(SRC)): n
        for p in modules
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > LIMIT
    }
    assert too_long == {}, f"split these by concern (at most {LIMIT} lines): {too_long}"
