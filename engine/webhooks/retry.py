"""When to try a failed webhook delivery again: a schedule you can read, not sleeps in loops.

The default follows Svix's published schedule (about a day in all): after the first attempt
fails, retry after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h (8 attempts); then give up.
Every delay gets ±20% jitter so a receiver that was down does not get every queued event back
in the same second. The outbox that persists deliveries owns the loop; this module only answers
"how long until the next attempt, if any".
"""

from __future__ import annotations

import math
import random as _random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = ["DEFAULT_DELAYS", "RetryPolicy", "parse_retry_after"]

# Seconds to wait after failed attempt 1, 2, ...; its length is the number of retries.
DEFAULT_DELAYS: tuple[float, ...] = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP-date); None if unusable.

    >>> parse_retry_after("120")
    120.0
    >>> parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412420.0)
    60.0

    Dates in the past give 0.0. Garbage gives None rather than an error: a receiver's bad
    header must not break delivery bookkeeping.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None  # RFC 9110 dates are always GMT; a zoneless one is not an HTTP-date
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def _human(seconds: float) -> str:
    if seconds == 0:
        return "immediately"
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size:
            whole, rest = divmod(round(seconds), size)
            tail = f" {_human(rest)}" if rest else ""
            return f"{whole} {unit}{tail}"
    return f"{seconds:g} s"


@dataclass(frozen=True)
class RetryPolicy:
    """A retry schedule: `delays[n - 1]` is the wait after failed attempt `n`.

    >>> policy = RetryPolicy(random=lambda: 0.5)  # jitter midpoint: no jitter
    >>> policy.next_delay(3, retry_after=None)
    300.0
    >>> policy.next_delay(9, retry_after=None) is None  # schedule exhausted
    True
    """

    delays: tuple[float, ...] = DEFAULT_DELAYS
    jitter: float = 0.2
    # Retry-After can only lengthen a wait, and only up to this: a receiver saying "come back in
    # a week" must not park an event past the end of the whole schedule.
    max_retry_after: float = 3600.0
    random: Callable[[], float] = field(default=_random.random, repr=False, compare=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        """The webhook schedule ``PIQUE_WEBHOOK_RETRY_DELAYS`` describes (the default when unset)."""
        delays = settings.retry_delays()
        return cls() if delays is None else cls(delays=delays)

    def __post_init__(self) -> None:
        object.__setattr__(self, "delays", tuple(float(d) for d in self.delays))
        if any(not math.isfinite(d) or d < 0 for d in self.delays):
            raise ValueError("retry delays must be finite and >= 0")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be a fraction in [0, 1)")
        if not math.isfinite(self.max_retry_after) or self.max_retry_after < 0:
            raise ValueError("max_retry_after must be finite and >= 0")

    @property
    def max_attempts(self) -> int:
        """Attempts in all, the first included."""
        return len(self.delays) + 1

    @property
    def total_delay(self) -> float:
        """Scheduled time from the first attempt to the last, before jitter and Retry-After."""
        return sum(self.delays)

    def next_delay(self, attempt_number: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait after failed attempt `attempt_number` (1 = the first), or None to give up.

        `retry_after` (seconds, see `parse_retry_after`) is honoured as a minimum, capped at
        `max_retry_after`; it never shortens the schedule, so ``Retry-After: 0`` cannot make us
        hammer a receiver.
        """
        if attempt_number < 1:
            raise ValueError(f"attempt_number counts from 1, got {attempt_number}")
        if attempt_number > len(self.delays):
            return None
        scheduled = self.delays[attempt_number - 1]
        delay = scheduled * (1 + self.jitter * (2 * self.random() - 1))
        if retry_after is not None and math.isfinite(retry_after) and retry_after > 0:
            delay = max(delay, min(retry_after, self.max_retry_after))
        return delay

    def describe(self) -> str:
        """The schedule in words, for documentation and logs."""
        lines = [
            f"Up to {self.max_attempts} attempts over about {_human(self.total_delay)}"
            f" (each wait ±{self.jitter:.0%} jitter):",
            "  attempt 1: immediately",
        ]
        for n, delay in enumerate(self.delays, start=2):
            when = "immediately" if delay == 0 else f"{_human(delay)} later"
            lines.append(f"  attempt {n}: {when}")
        lines.append(
            f"A Retry-After header can lengthen a wait up to {_human(self.max_retry_after)}, never shorten it."
        )
        return "\n".join(lines)
