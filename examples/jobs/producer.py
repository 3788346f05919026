"""Enqueues jobs the way a web request would: inside a SERVER span, each job
gets a PRODUCER span ("send <type>") whose trace context is stored with the
job. The "queue" is a JSON-lines file; the consumers (consumer.rb, the Go
examples/jobs/goconsumer) read it. Each job is written twice: attempt 1 and a
retry (attempt 2) with the same carrier, as a queue re-delivers a failed job.

    python3 examples/jobs/producer.py jobs.jsonl
"""

import json
import sys

import ffitel


def main(path: str) -> None:
    ffitel.init_telemetry()
    with open(path, "w", encoding="utf-8") as queue:
        with ffitel.span("POST /reports", kind="server", attributes={"http.route": "/reports"}):
            for n in (1, 2):
                task_id = f"report-{n}"
                with ffitel.send("SendReport", task_id=task_id):
                    carrier = ffitel.inject()
                    ffitel.info("enqueued report", task_id=task_id)
                for attempt in (1, 2):
                    job = {"type": "SendReport", "task_id": task_id, "attempt": attempt, "carrier": carrier,
                           "fail": n == 2 and attempt == 1}
                    queue.write(json.dumps(job) + "\n")
    ffitel.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
