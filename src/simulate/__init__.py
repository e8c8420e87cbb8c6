"""A simulated fleet of dataloggers and gateways publishing to a real broker.

Used by ``sitelink simulate``, the demo, the benchmarks and the tests. Each site gets one paho
client (client id ``sim-{code}``) that speaks for all its devices:

- ``{code}/datalogger/{model}/{serial}/heartbeat`` and ``{code}/gateway/{gw}/heartbeat``, one
  per device per interval, in API.md's v1 or v2 shape, with sensor values that drift (a random
  walk within bounds), a firmware and an uptime that grows;
- ``{code}/datalogger/{model}/{serial}/status``, retained: ``online`` at start. Real devices
  set ``offline`` as their MQTT will, but one client hosts many devices here, so a flaky device
  that goes silent publishes ``offline`` itself, and ``online`` when it comes back (rebooted,
  uptime from zero). On stop every datalogger says ``offline``, as its will would.

Publishes are spread evenly over the interval: with N devices, one every ``interval_s / N``
seconds on an absolute schedule, so a late publisher catches up instead of drifting. One
publishing thread drives all sites, owns the fleet's state and does the network I/O of every
site's client (paho runs no thread of its own here).

Modules
-------
- ``options``: ``SimulateOptions``, what to simulate;
- ``fleet``: the devices of a site (``DeviceSpec``), their drifting sensors and payloads;
- ``site_connection``: one site's paho client, its network I/O and reconnects;
- ``publisher``: ``Simulator``, which connects, paces and publishes (``run``, ``start``/``stop``,
  ``burst``);
- ``cli``: ``sitelink simulate`` (``register``, ``options_from_args``, ``handle_simulate``).
"""

from __future__ import annotations

from sitelink.simulate.cli import handle_simulate, options_from_args, register
from sitelink.simulate.fleet import MODELS, SENSORS, SILENCE_INTERVALS, DeviceSpec
from sitelink.simulate.options import SimulateOptions
from sitelink.simulate.publisher import BurstStats, SimulateStats, Simulator, SimulatorError

__all__ = [
    "MODELS",
    "SENSORS",
    "SILENCE_INTERVALS",
    "BurstStats",
    "DeviceSpec",
    "SimulateOptions",
    "SimulateStats",
    "Simulator",
    "SimulatorError",
    "handle_simulate",
    "options_from_args",
    "register",
]
