"""``make bench`` (``python -m bench``): every benchmark in one run, then bench/RESULTS.md.

Each benchmark compares against a baseline measured in the same run (these machines are
noisy) and never fails on speed. A benchmark that breaks is recorded with its error and
the others go on. ``python -m bench control ingest`` runs only the named ones.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from bench import control, failure, fanout, ingest, scale, storage
from bench.common import BENCH_DIR, Section, machine, render_table

# name -> how to run it, in the order of issue 7
BENCHMARKS: dict[str, Callable[[], Section]] = {
    "control": control.run,
    "failure": failure.run,
    "ingest": ingest.run,
    "scale": scale.run,
    "fanout": fanout.run,
    "storage": storage.run,
}


def main(argv: list[str]) -> int:
    wanted = argv or list(BENCHMARKS)
    unknown = [name for name in wanted if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
        return 2
    facts = machine()
    started = time.monotonic()
    sections: list[Section] = []
    for name in wanted:
        print(f"\n=== {name} ...", flush=True)
        section = BENCHMARKS[name]()
        section.print()
        sections.append(section)
    total_s = time.monotonic() - started
    results = _results(facts, sections, total_s)
    (BENCH_DIR / "RESULTS.md").write_text(results)
    print(f"\nwrote bench/RESULTS.md ({total_s:.0f} s in all)")
    return 0


def _results(facts: dict[str, str], sections: list[Section], total_s: float) -> str:
    lines = [
        "# sitelink benchmarks",
        "",
        "Written by `make bench`. Every figure stands beside a baseline measured in the same",
        "run; ratios matter more than absolute numbers on a shared 2-core machine.",
        "",
        *(f"- {key}: {value}" for key, value in facts.items()),
        f"- total time: {total_s:.0f} s",
        "",
    ]
    for section in sections:
        lines += [f"## {section.title}", ""]
        if section.error:
            lines += [f"**Error:** {section.error}", ""]
        lines += [render_table(section.rows), ""]
        lines += [f"- {note}" for note in section.notes]
        lines += ["", f"({section.seconds:.0f} s)", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
