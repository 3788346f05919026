"""Process CPU of a paced Python worker per call slot: 100 calls every 10 ms
for 5 s, the calls being nothing (``none``), an empty call into Go
(``phase``: ``ffitel_phase``) or ``ffitel.info`` with three attributes
(``info``). What a worker that logs in small bursts pays beyond the calls
themselves: the Go runtime's wake-ups (docs/PERFORMANCE.md, "The ring's
consumer"). Run under ``perf stat -e task-clock,context-switches`` to count
the wake-ups too.

    TELEMETRY_ENABLED=true FFITEL_LOG_OUTPUT=none PYTHONPATH=python/src \\
      FFITEL_LIBRARY=build/libffitel.so python3 python/bench/bench_paced_calls.py info
"""

from __future__ import annotations

import ctypes
import os
import sys
import time

import ffitel


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "info"
    ffitel.init_telemetry()
    raw = ctypes.CDLL(os.environ["FFITEL_LIBRARY"])
    phase = raw.ffitel_phase
    phase.restype = ctypes.c_int
    ticks, per = 500, 100
    t = time.monotonic()
    cpu0 = time.process_time()
    for _ in range(ticks):
        t += 0.01
        d = t - time.monotonic()
        if d > 0:
            time.sleep(d)
        for i in range(per):
            if mode == "info":
                ffitel.info("charged card", order_id=i, user="bob", ok=True)
            elif mode == "phase":
                phase()
    print(f"{mode}: {(time.process_time() - cpu0) / (ticks * per) * 1e6:.2f} us of process CPU per call slot")
    ffitel.shutdown(10)


if __name__ == "__main__":
    main()
