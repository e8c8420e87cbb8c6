"""``sitelink simulate``: its arguments, and running the simulator from a command line."""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Any

from sitelink.errors import ValidationError
from sitelink.simulate.options import PAYLOADS, SimulateOptions
from sitelink.simulate.publisher import Simulator, SimulatorError

# (flag, option field, type, default, metavar, help)
_ARGUMENTS: tuple[tuple[str, str, type, object, str | None, str], ...] = (
    ("--sites", "sites", int, 1, "N", "sites, with codes site_001, site_002, ..."),
    ("--dataloggers", "dataloggers", int, 10, "M", "dataloggers per site"),
    ("--gateways", "gateways", int, 1, "G", "gateways per site"),
    ("--interval", "interval_s", float, 5.0, "S", "seconds between two heartbeats of a device"),
    ("--flaky", "flaky", float, 0.0, "P", "chance that a device goes silent at each heartbeat"),
    ("--payload", "payload_version", str, "v1", "|".join(PAYLOADS),
     "mixed: v1 and v2 devices on each site; by-site: even-numbered sites speak v2; "
     "csi: dataloggers speak CSI-JSON; sparkplug_b: gateways are Sparkplug B edge nodes"),
    ("--qos", "qos", int, 0, "0|1|2", "QoS of heartbeats (statuses use 1)"),
    ("--duration", "duration_s", float, None, "S", "stop after S seconds"),
    ("--max-messages", "max_messages", int, None, "N", "stop after N heartbeats"),
    ("--seed", "seed", int, None, None, "seed of the random values, for repeatable runs"),
    ("--code-prefix", "code_prefix", str, "site_", "PREFIX", "site codes: PREFIX001, ..."),
)


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``sitelink simulate`` to the CLI, with ``handle_simulate`` as ``args.handler``."""
    parser = subparsers.add_parser(
        "simulate",
        help="publish a simulated fleet of dataloggers to an MQTT broker",
        description="Publish the heartbeats and statuses of simulated sites (see API.md).",
    )
    parser.add_argument("--broker", default="127.0.0.1:1883", metavar="HOST:PORT", help="broker")
    for flag, dest, kind, default, metavar, help_text in _ARGUMENTS:
        # --payload-version: the flag's first name, kept for the scripts that use it.
        aliases = ("--payload-version",) if flag == "--payload" else ()
        parser.add_argument(flag, *aliases, dest=dest, type=kind, default=default,
                            metavar=metavar, help=help_text)  # fmt: skip
    parser.add_argument("--burst", type=int, metavar="N", help="publish N heartbeats at once")
    parser.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    parser.set_defaults(handler=handle_simulate)


def options_from_args(args: argparse.Namespace) -> SimulateOptions:
    """The options of a parsed ``sitelink simulate`` command line."""
    host, _, port = str(args.broker).rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValidationError("broker", f"expected HOST:PORT, got {args.broker!r}")
    values = {dest: getattr(args, dest) for _flag, dest, *_rest in _ARGUMENTS}
    return SimulateOptions(host=host, port=int(port), progress=not args.no_progress, **values)


def handle_simulate(args: argparse.Namespace) -> int:
    """Run ``sitelink simulate`` until Ctrl-C (or its end); returns the exit code."""
    try:
        options = options_from_args(args)
    except ValidationError as exc:
        print(f"sitelink simulate: {exc}", file=sys.stderr)
        return 2
    simulator = Simulator(options)
    try:
        if args.burst is not None:
            burst = simulator.burst(args.burst)
            print(f"burst: {burst.count} heartbeats, QoS {burst.qos}, {burst.rate:.0f} msg/s")
            return 0
        print(
            f"simulate: {options.sites} sites x ({options.dataloggers} dataloggers + "
            f"{options.gateways} gateways) every {options.interval_s:g} s = "
            f"{options.rate:.1f} heartbeats/s to {options.host}:{options.port}",
            flush=True,
        )
        simulator.start()
    except SimulatorError as exc:
        print(f"sitelink simulate: {exc}", file=sys.stderr)
        return 1
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C interrupts the join's lock wait
        simulator.join()
    stats = simulator.stop()
    print(
        f"simulate: {stats.heartbeats} heartbeats, {stats.statuses} statuses, "
        f"{stats.unsent} unsent in {stats.elapsed_s:.1f} s ({stats.rate:.1f} msg/s)"
    )
    return 0
