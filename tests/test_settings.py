"""Settings from the environment: values parsed, and a bad one named in the error."""

from __future__ import annotations

import pytest

from sitelink.errors import ConfigError
from sitelink.settings import load_settings


def test_retentions_are_read_and_zero_keeps_for_ever() -> None:
    defaults = load_settings({})
    assert (defaults.readings_retention_days, defaults.history_retention_days) == (30, 90)
    s = load_settings({"SITELINK_READINGS_RETENTION_DAYS": "7",
                       "SITELINK_HISTORY_RETENTION_DAYS": "0"})
    assert (s.readings_retention_days, s.history_retention_days) == (7, 0)


@pytest.mark.parametrize("name", ["SITELINK_READINGS_RETENTION_DAYS",
                                  "SITELINK_HISTORY_RETENTION_DAYS"])
def test_a_negative_retention_is_refused_not_taken_as_prune_everything(name: str) -> None:
    with pytest.raises(ConfigError, match=f"^{name}: expected 0"):
        load_settings({name: "-1"})


def test_a_value_of_the_wrong_kind_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"^SITELINK_HISTORY_RETENTION_DAYS: expected int"):
        load_settings({"SITELINK_HISTORY_RETENTION_DAYS": "ninety"})
