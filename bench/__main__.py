"""``python -m bench`` (``make bench``): every benchmark, then bench/RESULTS.md.

Runs each benchmark in turn (each also runs alone: ``python -m bench.ingest`` …), prints its
table as it finishes, and writes bench/RESULTS.md: the machine (CPU count, Python, date,
load), a summary of every target (met or not), then each benchmark's figures beside the
baseline measured in the same run. Benchmarks never fail on speed; one that breaks says so
in its section and the others still run.

``python -m bench --only ingest,fanout`` runs a subset (RESULTS.md is then not rewritten
unless ``--write``).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from bench import (
    alerts,
    cluster,
    cluster_commands,
    control,
    decoders,
    failure,
    fanout,
    ingest,
    ingest4,
    scale,
    storage,
)
from bench.common import BENCH_DIR, Row, Section, machine, render_table

BENCHES: list[tuple[str, Callable[[], Section]]] = [
    ("decoders", decoders.run),
    ("control", control.run),
    ("failure", failure.run),
    ("ingest", ingest.run),
    ("ingest4", ingest4.run),
    ("fanout", fanout.run),
    ("storage", storage.run),
    ("scale", scale.run),
    ("scale_2000", lambda: scale.run(2000, 10)),  # issue 15: 20,000 devices on one instance
    ("alerts", alerts.run),
    ("cluster_commands", cluster_commands.run),
    ("cluster", cluster.run),
]


def results_markdown(sections: list[Section], info: dict[str, str], total_s: float) -> str:
    lines = [
        "# sitelink benchmarks",
        "",
        "Written by `make bench` (`python -m bench`). Every figure sits beside a baseline",
        "measured in the same run on the same machine; these machines are noisy, so compare",
        "ratios, not absolute numbers across runs. Benchmarks print; they never fail on speed.",
        "Why a missed target is missed, and what would reach it: `bench/PROPOSALS.md`.",
        "",
        "| machine | |",
        "|---|---|",
        *[f"| {key} | {value} |" for key, value in info.items()],
        f"| total run time | {total_s / 60:.1f} min |",
        "",
        "## Targets",
        "",
    ]
    targets: list[Row] = []
    for section in sections:
        for row in section.rows:
            if row.target:
                targets.append(Row(f"{section.title.split(' ', 1)[0]} {row.metric}", row.value,
                                   row.baseline, row.ratio, row.target, row.met))
    lines.append(render_table(targets))
    for section in sections:
        lines += ["", f"## {section.title}", "", f"({section.seconds:.0f} s)", ""]
        if section.error:
            lines += [f"**The benchmark broke:** `{section.error}`", ""]
        if section.rows:
            lines.append(section.table())
        if section.notes:
            lines.append("")
            lines += [f"- {note}" for note in section.notes]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated: " +
                        ",".join(name for name, _ in BENCHES))
    parser.add_argument("--write", action="store_true", help="write RESULTS.md with --only")
    parser.add_argument("names", nargs="*", help="same as --only (python -m bench ingest)")
    args = parser.parse_args()
    wanted = {name for name in args.only.split(",") if name} | set(args.names)
    unknown = wanted - {name for name, _ in BENCHES}
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    info = machine()
    print("sitelink benchmarks: " + ", ".join(f"{k} {v}" for k, v in info.items()), flush=True)
    started = time.monotonic()
    sections = []
    for name, run in BENCHES:
        if wanted and name not in wanted:
            continue
        print(f"\n... {name}", flush=True)
        section = run()
        section.print()
        sections.append(section)
    total_s = time.monotonic() - started
    if not wanted or args.write:
        path = BENCH_DIR / "RESULTS.md"
        path.write_text(results_markdown(sections, info, total_s))
        print(f"\nwrote {path}")
    print(f"\nall benchmarks: {total_s / 60:.1f} min")
    print("\n## Targets")
    rows = [Row(f"{s.key}: {r.metric}", r.value, r.baseline, r.ratio, r.target, r.met)
            for s in sections for r in s.rows if r.target]
    print(render_table(rows))


if __name__ == "__main__":
    main()
