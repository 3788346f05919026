"""pyworker: a small ffitel worker in Python, the twin of examples/goworker.

It logs in phase 1 while it "wires up its bridge", upgrades to phase 2,
processes a few jobs with spans, logs and counters (one fails), and shuts
down. `make demo` runs it against a real OpenTelemetry Collector:

    OTEL_SERVICE_NAME=pyworker TELEMETRY_ENABLED=true \
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 \
    PYTHONPATH=python/src python3 examples/pyworker/worker.py

(or with the package installed: `pip install ./python`).
"""

from __future__ import annotations

import logging
import sys
import time

import ffitel


class CardDeclined(Exception):
    pass


def charge(job: int) -> None:
    with ffitel.span("charge card", kind="client") as s:
        s.set_attribute("amount_cents", 500 * job)
        time.sleep(0.005)
        if job == 3:
            raise CardDeclined("card declined")
        ffitel.debug("card charged", amount_cents=500 * job)


def main() -> int:
    # Phase 1: console only, safe before anything else is ready.
    ffitel.init_console()
    ffitel.info("starting; wiring up the bridge", worker="pyworker")
    ffitel.counter_add("pyworker.jobs", 1, queue="warmup", outcome="ok")
    time.sleep(0.02)
    ffitel.debug("bridge ready", worker="pyworker")

    # Phase 2: the same logging, now exported too. Third-party libraries
    # that use `logging` come along through the handler.
    ffitel.init_telemetry()
    logging.basicConfig(level=logging.INFO, handlers=[ffitel.LoggingHandler()])
    try:
        for job in range(1, 4):
            with ffitel.fields(correlation_id=f"corr-{job}", worker="pyworker"):
                outcome = "ok"
                try:
                    with ffitel.span("process job", kind="consumer",
                                     attributes={"job.number": job}):
                        ffitel.info("processing job", job=job)
                        logging.getLogger("pyworker.queue").info(
                            "acked job %d", job, extra={"queue": "main"})
                        charge(job)
                except CardDeclined as exc:
                    ffitel.error("job failed", job=job, error=str(exc))
                    outcome = "error"
                ffitel.counter_add("pyworker.jobs", 1, queue="main", outcome=outcome)
                ffitel.histogram_record("pyworker.job.duration", 5.0 * job, unit="ms")
        ffitel.info("all jobs done", logs_emitted=ffitel.stats()["pipeline"]["logs"]["emitted"])
    finally:
        if not ffitel.shutdown(timeout=5.0):
            print("pyworker: shutdown: deadline cut the flush short", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
