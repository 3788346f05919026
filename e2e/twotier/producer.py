"""Producer of the two-tier test: starts N traces and hands each one on.

    python3 producer.py N jobs.jsonl

Each trace is a SERVER span "place order" with a log record and a PRODUCER
child "send ProcessOrder" whose carrier (traceparent) is written, one job a
line, to jobs.jsonl for the Ruby consumer. Prints the stats document's
pipeline figures as JSON and exits 1 when shutdown left anything undelivered.
"""

import json
import sys

import ffitel


def main() -> int:
    n, path = int(sys.argv[1]), sys.argv[2]
    ffitel.init_telemetry()
    with open(path, "w", encoding="utf-8") as jobs:
        for i in range(n):
            with ffitel.span("place order", kind="server", attributes={"order.index": i}) as root:
                trace_id = root.trace_id
                ffitel.info("order placed", order_index=i)
                with ffitel.send("ProcessOrder", order_index=i):
                    carrier = ffitel.inject()
            jobs.write(json.dumps({"index": i, "trace_id": trace_id, "carrier": carrier}) + "\n")
    delivered = ffitel.shutdown(timeout=30.0)
    print(json.dumps({"delivered": delivered, "pipeline": ffitel.stats().get("pipeline")}))
    return 0 if delivered else 1


if __name__ == "__main__":
    sys.exit(main())
