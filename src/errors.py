"""The one error tree of sitelink.

::

    SitelinkError
    ├── ConfigError            bad settings or environment
    ├── LifecycleError         an event that the current connection state does not accept
    │   └── WriterLifeError    one the writer child does not accept   (sitelink.storage.writer_life)
    ├── StorageError           the database said no
    │   ├── NotFound           no row with that id
    │   └── Conflict           a unique value is taken (e.g. a site code)
    ├── ValidationError        bad input from a user; ``field`` names what is wrong
    ├── InvalidRow             a stored row breaks the rules of a site (it is skipped and shown)
    ├── NotConnected           an action needs a live connection and there is none
    ├── TooManyClients         the event-stream cap is reached   (sitelink.fanout)
    ├── DeliveryFailed         a notification did not reach its channel   (sitelink.alerts.delivery)
    ├── BrokerError            a local test/demo broker would not start   (sitelink.embedded_broker)
    └── SimulatorError         the fleet simulator cannot reach its broker   (sitelink.simulate)

HTTP status codes are chosen only in ``sitelink.api``; paho and OS errors are turned
into words in exactly one place, ``sitelink.actors.mqtt_failures.describe_failure``.
"""

from __future__ import annotations


class SitelinkError(Exception):
    """Root of every error sitelink raises on purpose."""


class ConfigError(SitelinkError):
    pass


class LifecycleError(SitelinkError):
    def __init__(self, state: object, event: object) -> None:
        super().__init__(f"event {type(event).__name__} is not valid in state {state}")
        self.state = state
        self.event = event


class StorageError(SitelinkError):
    pass


class NotFound(StorageError):
    pass


class Conflict(StorageError):
    pass


class ValidationError(SitelinkError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class InvalidRow(SitelinkError):
    """A row already in storage (an older version, a hand edit, a restore) that cannot
    become what the actors run on; the text names the row, the field and the value."""


class NotConnected(SitelinkError):
    pass
