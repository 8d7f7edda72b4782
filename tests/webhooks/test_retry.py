from __future__ import annotations

import dataclasses
from email.utils import formatdate

import pytest

from pique_engine.webhooks.retry import DEFAULT_DELAYS, RetryPolicy, parse_retry_after

NO_JITTER = 0.5  # random() == 0.5 puts the jitter factor at exactly 1.0


def test_default_schedule_is_svix_like_about_a_day() -> None:
    assert DEFAULT_DELAYS == (5, 300, 1800, 7200, 18000, 36000, 36000)
    policy = RetryPolicy()
    assert policy.delays == (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
    assert policy.max_attempts == 8
    assert policy.total_delay == 99_305  # 27 h 35 min 5 s
    assert policy.jitter == 0.2


def test_next_delay_follows_the_schedule_then_gives_up() -> None:
    policy = RetryPolicy(random=lambda: NO_JITTER)
    assert [policy.next_delay(n, None) for n in range(1, 9)] == [
        5.0,
        300.0,
        1800.0,
        7200.0,
        18000.0,
        36000.0,
        36000.0,
        None,
    ]
    assert policy.next_delay(50, None) is None


def test_next_delay_jitter_spans_plus_minus_twenty_percent() -> None:
    low = RetryPolicy(random=lambda: 0.0)
    high = RetryPolicy(random=lambda: 0.999999)
    assert low.next_delay(2, None) == pytest.approx(240.0)
    assert high.next_delay(2, None) == pytest.approx(360.0, rel=1e-5)
    assert RetryPolicy(delays=(0, 1), random=lambda: 0.0).next_delay(1, None) == 0.0  # "immediately" stays immediate


def test_next_delay_with_real_random_source_stays_within_jitter_bounds() -> None:
    policy = RetryPolicy()
    delays = {policy.next_delay(3, None) for _ in range(200)}
    assert all(1440.0 <= d <= 2160.0 for d in delays)  # type: ignore[operator]
    assert len(delays) > 150  # actually jittered


def test_retry_after_lengthens_a_short_wait() -> None:
    policy = RetryPolicy(random=lambda: NO_JITTER)
    assert policy.next_delay(1, retry_after=120.0) == 120.0


def test_retry_after_never_shortens_the_schedule() -> None:
    policy = RetryPolicy(random=lambda: NO_JITTER)
    assert policy.next_delay(3, retry_after=1.0) == 1800.0
    assert policy.next_delay(1, retry_after=0.0) == 5.0


def test_retry_after_is_capped_at_one_hour_by_default() -> None:
    policy = RetryPolicy(random=lambda: NO_JITTER)
    assert policy.next_delay(1, retry_after=7 * 86400.0) == 3600.0
    assert policy.next_delay(5, retry_after=7 * 86400.0) == 18000.0  # schedule already longer
    assert RetryPolicy(random=lambda: NO_JITTER, max_retry_after=60).next_delay(1, retry_after=600) == 60.0


def test_retry_after_does_not_revive_an_exhausted_schedule() -> None:
    assert RetryPolicy().next_delay(9, retry_after=10.0) is None


def test_policy_is_frozen_and_custom_schedules_work() -> None:
    policy = RetryPolicy(delays=(1, 2), jitter=0, random=lambda: 0.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.jitter = 0.5  # type: ignore[misc]
    assert [policy.next_delay(n) for n in (1, 2, 3)] == [1.0, 2.0, None]
    assert policy.max_attempts == 3


@pytest.mark.parametrize(
    "kwargs",
    [{"delays": (5, -1)}, {"delays": (float("inf"),)}, {"jitter": 1.0}, {"jitter": -0.1}, {"max_retry_after": -1}],
)
def test_policy_rejects_invalid_configuration(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_next_delay_rejects_attempt_numbers_below_one() -> None:
    with pytest.raises(ValueError, match="counts from 1"):
        RetryPolicy().next_delay(0, None)


def test_describe_lists_every_attempt_in_words() -> None:
    assert RetryPolicy().describe() == (
        "Up to 8 attempts over about 27 h 35 min 5 s (each wait ±20% jitter):\n"
        "  attempt 1: immediately\n"
        "  attempt 2: 5 s later\n"
        "  attempt 3: 5 min later\n"
        "  attempt 4: 30 min later\n"
        "  attempt 5: 2 h later\n"
        "  attempt 6: 5 h later\n"
        "  attempt 7: 10 h later\n"
        "  attempt 8: 10 h later\n"
        "A Retry-After header can lengthen a wait up to 1 h, never shorten it."
    )


@pytest.mark.parametrize(("value", "seconds"), [("120", 120.0), (" 0 ", 0.0), ("86400", 86400.0)])
def test_parse_retry_after_reads_delta_seconds(value: str, seconds: float) -> None:
    assert parse_retry_after(value) == seconds


def test_parse_retry_after_reads_http_date_relative_to_now() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after(formatdate(now + 90, usegmt=True), now=now) == 90.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412420.0) == 60.0


def test_parse_retry_after_past_date_means_no_wait() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1_700_000_000.0) == 0.0


@pytest.mark.parametrize(
    "value", [None, "", "soon", "-5", "1.5", "Wed, 99 Foo 2015", "\uff12\uff10"]
)  # last: full-width digits
def test_parse_retry_after_returns_none_for_unusable_values(value: str | None) -> None:
    assert parse_retry_after(value) is None
