"""A Celery app instrumented with ffitel: three jobs that succeed, fail for
good, and fail once then succeed on retry.

    redis-server --port 6379 &
    CELERY_BROKER=redis://127.0.0.1:6379/0 TELEMETRY_ENABLED=true \\
      celery -A shop worker --pool=prefork --concurrency=2 -Q shop -l INFO
    CELERY_BROKER=redis://127.0.0.1:6379/0 TELEMETRY_ENABLED=true python3 producer.py

Nothing here calls ffitel at import: `celery worker` imports this module in
its master, which must not load the library before it forks its pool (each
pool process initialises its own in worker_process_init).
"""

import logging
import os

from celery import Celery

import ffitel
import ffitel.celery

app = Celery("shop", broker=os.environ.get("CELERY_BROKER", "redis://127.0.0.1:6379/0"))
app.conf.update(
    task_default_queue="shop",
    broker_connection_retry_on_startup=True,
    worker_prefetch_multiplier=1,
)
ffitel.celery.instrument(app)

log = logging.getLogger("shop")


@app.task(name="shop.charge")
def charge(order_id: int) -> int:
    ffitel.info("charging order", order_id=order_id)
    log.info("charged order %d", order_id)  # stdlib logging, through ffitel.LoggingHandler
    return order_id


@app.task(name="shop.ship")
def ship(order_id: int) -> None:
    ffitel.info("shipping order", order_id=order_id)
    raise ValueError(f"no address for order {order_id}")


@app.task(name="shop.notify", bind=True, max_retries=3)
def notify(self, order_id: int) -> str:  # type: ignore[no-untyped-def]
    attempt = self.request.retries + 1
    ffitel.info("notifying customer", order_id=order_id, attempt=attempt)
    if attempt == 1:
        raise self.retry(exc=ConnectionError("mail server busy"), countdown=0)
    return "sent"
