"""Enqueues three jobs from inside a request span; prints their task ids as
JSON. See shop.py for the worker.

    CELERY_BROKER=redis://127.0.0.1:6379/0 TELEMETRY_ENABLED=true python3 producer.py
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ffitel  # noqa: E402
from shop import charge, notify, ship  # noqa: E402


def main() -> None:
    ffitel.init_telemetry()
    with ffitel.span("POST /orders", kind="server", attributes={"http.route": "/orders"}) as request:
        ids = {
            "charge": charge.delay(42).id,
            "ship": ship.delay(42).id,
            "notify": notify.delay(42).id,
        }
        ffitel.info("order placed", order_id=42)
        trace_id = request.trace_id
    print(json.dumps({"trace_id": trace_id, "tasks": ids}), flush=True)
    ffitel.shutdown()


if __name__ == "__main__":
    main()
