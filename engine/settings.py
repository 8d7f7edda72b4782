"""One settings object, read from the environment (``PIQUE_`` prefix) once, at start-up.

The standard Google variables (``GOOGLE_CLOUD_PROJECT``, ``PUBSUB_EMULATOR_HOST``,
``STORAGE_EMULATOR_HOST``, ``GOOGLE_APPLICATION_CREDENTIALS``) are read by the official
clients themselves; `google_cloud_project` is here only because the worker needs the name.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import ConfigError


class Settings(BaseSettings):
    """Every setting pique-engine reads. Field `x` is the variable ``PIQUE_X``."""

    model_config = SettingsConfigDict(env_prefix="PIQUE_", extra="ignore")

    # plugins
    load_plugins: str | None = Field(default=None, description="Comma list of plugins to load; empty loads none; unset loads all.")
    strict_plugins: bool = Field(default=False, description="Fail at start-up when a plugin cannot load, instead of skipping it.")

    # media safety limits, checked from headers before decoding
    max_image_pixels: int = 178_956_970
    max_video_pixels: int = 8192 * 8192
    max_duration_sec: float = 6 * 3600.0

    # store
    database_url: str = Field(default="sqlite:///pique.db", description="SQLAlchemy URL; PostgreSQL in production.")

    # worker
    bucket: str | None = None
    subscription: str | None = Field(default=None, description="Full path: projects/P/subscriptions/S.")
    google_cloud_project: str | None = Field(default=None, validation_alias=AliasChoices("PIQUE_GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_PROJECT"))
    concurrency: int = Field(default=2, ge=1, description="Evaluations in flight per worker process.")
    ack_extension_sec: int = Field(
        default=30, ge=10, le=600,
        description="Deadline each lease extension asks Pub/Sub for; a dead worker's messages return after about this long.",
    )
    evaluation_timeout_sec: float = Field(default=300.0, gt=0, description="Wall-clock limit for one evaluation.")
    detector_timeout_sec: float = Field(default=120.0, gt=0, description="Wall-clock limit for one detector, whatever its params; past it the detector is abandoned and its criterion fails.")
    evaluation_memory_mb: int = Field(default=4096, ge=256, description="Memory one evaluation may add to its sandbox child's start size (address space, MiB).")
    max_delivery_attempts: int = Field(default=5, ge=1)
    job_lease_sec: float = Field(
        default=60.0, ge=5,
        description="A job's lease, renewed every third of it while its evaluation runs; a dead worker's jobs are reclaimed after about this long.",
    )
    sweep_after_sec: float = Field(
        default=600.0, gt=0,
        description="How long a job may stay awaiting its upload past the URL's expiry before the sweep looks for its upload or expires it.",
    )
    sweep_interval_sec: float = Field(default=30.0, gt=0, description="How often each worker sweeps for overdue jobs and run-out leases.")
    metrics_port: int | None = Field(default=None, description="Port for /healthz, /readyz and /metrics; unset disables.")
    log_format: str = Field(default="auto", description="'json', 'text' or 'auto' (JSON when stderr is not a terminal).")

    # webhooks
    webhook_allow_private: bool = Field(default=False, description="Allow webhook URLs that resolve to loopback/private/link-local addresses.")
    webhook_timeout_sec: float = 10.0
    webhook_send_lease_sec: float = Field(
        default=60.0, gt=0,
        description="How long a claimed delivery stays hidden from other senders (at least twice the webhook timeout); a killed worker's webhooks go out after about this long.",
    )
    webhook_concurrency: int = Field(default=16, ge=1, description="Webhook sends in flight per process, all organisations together.")
    webhook_concurrency_per_org: int = Field(default=4, ge=1, description="Webhook sends in flight per process for one organisation.")
    webhook_retry_delays: str | None = Field(
        default=None,
        description="Comma list of seconds to wait after each failed attempt; unset uses the default schedule (about a day).",
    )

    def retry_delays(self) -> tuple[float, ...] | None:
        """`webhook_retry_delays` as seconds, or None for the webhooks layer's default schedule."""
        if not self.webhook_retry_delays:
            return None
        try:
            return tuple(float(x) for x in self.webhook_retry_delays.split(",") if x.strip())
        except ValueError:
            raise ConfigError(
                f"PIQUE_WEBHOOK_RETRY_DELAYS={self.webhook_retry_delays!r} must be a comma list of seconds, e.g. '5,300,1800'"
            ) from None

    def plugin_selection(self) -> list[str] | None:
        """`load_plugins` as `load_plugins()` expects it: None for all, a list otherwise."""
        if self.load_plugins is None:
            return None
        return [p.strip() for p in self.load_plugins.split(",") if p.strip()]
