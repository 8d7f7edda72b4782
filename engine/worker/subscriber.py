"""The Pub/Sub edge: a streaming pull on one subscription, each message parsed into a
`Notification` here and only here, handed to the worker's core, then acked or nacked.

Flow control and the callback pool are both sized to `PIQUE_CONCURRENCY`, so the client never
leases more messages than the worker evaluates at once; the client extends each lease every
`PIQUE_ACK_EXTENSION_SEC` while its evaluation runs.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from .notifications import NotificationError, parse_notification
from .verdict import ACK

if TYPE_CHECKING:
    from .handler import Worker

log = logging.getLogger(__name__)


class PubSubSource:
    """Streams `subscription` into a worker's core; see the module docstring."""

    def __init__(self, subscription: str, *, concurrency: int, ack_extension_sec: int) -> None:
        self.subscription = subscription
        self.concurrency = concurrency
        self.ack_extension_sec = ack_extension_sec
        self._client = None
        self._future = None

    def __str__(self) -> str:
        return self.subscription

    def start(self, worker: Worker) -> None:
        """Start pulling on the client's threads; returns at once."""
        from google.cloud import pubsub_v1
        from google.cloud.pubsub_v1.subscriber.scheduler import ThreadScheduler

        def callback(message) -> None:
            if worker.stopping.is_set():
                message.nack()  # draining: hand it to another replica now
                return
            try:
                n = parse_notification(dict(message.attributes), message.data)
            except NotificationError as exc:
                verdict = worker.unreadable(str(exc))
            else:
                verdict = worker.handle(n, message.delivery_attempt)
            message.ack() if verdict == ACK else message.nack()

        self._client = pubsub_v1.SubscriberClient()
        self._future = self._client.subscribe(
            self.subscription,
            callback,
            flow_control=pubsub_v1.types.FlowControl(
                max_messages=self.concurrency,
                min_duration_per_lease_extension=self.ack_extension_sec,
                max_duration_per_lease_extension=self.ack_extension_sec,
            ),
            scheduler=ThreadScheduler(ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="pique-eval")),
            await_callbacks_on_shutdown=True,
        )

    def failed(self) -> bool:
        """True when the stream ended by itself (the client gave up)."""
        return self._future is not None and self._future.done()

    def stop(self, timeout: float) -> None:
        """Stop pulling; in-flight callbacks finish (`await_callbacks_on_shutdown`) within `timeout`."""
        if self._future is None:
            return
        self._future.cancel()
        try:
            self._future.result(timeout=timeout)
        except Exception:  # cancellation surfaces here; anything else was logged by the client
            pass
        self._client.close()


def subscription_problem(subscription: str | None, timeout: float = 10.0) -> str | None:
    """None when `subscription` exists and can be read; otherwise what is wrong and how to fix it."""
    from google.api_core import exceptions
    from google.cloud import pubsub_v1

    if not subscription:
        return "no subscription set; set PIQUE_SUBSCRIPTION (projects/P/subscriptions/S) or pass --subscription"
    client = pubsub_v1.SubscriberClient()
    try:
        client.get_subscription(request={"subscription": subscription}, timeout=timeout)
    except exceptions.NotFound:
        return (f"subscription {subscription!r} not found; create it (docs/operators.md#google-cloud-set-up) "
                "or set PIQUE_SUBSCRIPTION")  # fmt: skip
    except exceptions.PermissionDenied:
        return f"no permission to read subscription {subscription!r}; grant roles/pubsub.subscriber on it (docs/operators.md#iam-for-the-workers-service-account)"
    except (exceptions.GoogleAPIError, ValueError) as exc:
        return f"cannot reach Pub/Sub to check subscription {subscription!r}: {exc}"
    finally:
        client.close()
    return None
