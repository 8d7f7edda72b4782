"""Settings come from PIQUE_ variables once; the core holds plain values, the layers build on them."""

from __future__ import annotations

import pytest

from pique_engine.errors import ConfigError
from pique_engine.settings import Settings
from pique_engine.webhooks.retry import DEFAULT_DELAYS, RetryPolicy


@pytest.fixture
def env(monkeypatch):
    for name in ("PIQUE_LOAD_PLUGINS", "PIQUE_WEBHOOK_RETRY_DELAYS", "PIQUE_MAX_IMAGE_PIXELS", "GOOGLE_CLOUD_PROJECT",
                 "PIQUE_GOOGLE_CLOUD_PROJECT", "PIQUE_CONCURRENCY"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_values_are_read_from_pique_variables(env):
    env.setenv("PIQUE_MAX_IMAGE_PIXELS", "1000")
    env.setenv("PIQUE_CONCURRENCY", "3")
    env.setenv("GOOGLE_CLOUD_PROJECT", "proj")
    s = Settings()
    assert (s.max_image_pixels, s.concurrency, s.google_cloud_project) == (1000, 3, "proj")


def test_an_invalid_value_is_refused_at_start_up(env):
    env.setenv("PIQUE_CONCURRENCY", "0")
    with pytest.raises(ValueError, match="concurrency"):
        Settings()


@pytest.mark.parametrize("raw, selection", [(None, None), ("", []), ("loudness, other,", ["loudness", "other"])])
def test_plugin_selection_unset_loads_all_empty_none(env, raw, selection):
    if raw is not None:
        env.setenv("PIQUE_LOAD_PLUGINS", raw)
    assert Settings().plugin_selection() == selection


def test_retry_delays_are_plain_seconds_and_the_webhooks_layer_builds_the_schedule(env):
    assert Settings().retry_delays() is None
    assert RetryPolicy.from_settings(Settings()).delays == DEFAULT_DELAYS
    env.setenv("PIQUE_WEBHOOK_RETRY_DELAYS", "1, 2.5,60")
    assert Settings().retry_delays() == (1.0, 2.5, 60.0)
    assert RetryPolicy.from_settings(Settings()).delays == (1.0, 2.5, 60.0)


def test_retry_delays_that_are_not_numbers_say_how_to_write_them(env):
    env.setenv("PIQUE_WEBHOOK_RETRY_DELAYS", "5,soon")
    with pytest.raises(ConfigError, match="PIQUE_WEBHOOK_RETRY_DELAYS='5,soon' must be a comma list of seconds"):
        Settings().retry_delays()
