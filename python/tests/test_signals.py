"""With the library loaded and busy, the host keeps its signals."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

from conftest import worker_env

BUSY_WORKER = """
    import signal, sys, threading, time, ffitel
    ffitel.init_telemetry()
    stop = threading.Event()

    def busy(t):
        i = 0
        while not stop.is_set():
            ffitel.info("busy", thread=t, i=i)
            with ffitel.span("tick"):
                i += 1

    threads = [threading.Thread(target=busy, args=(t,), daemon=True) for t in range(4)]
    for t in threads: t.start()
    {setup}
    print("ready", flush=True)
    try:
        while not stop.is_set():
            time.sleep(0.01)
    except KeyboardInterrupt:
        print("KeyboardInterrupt", flush=True)
    stop.set()
    for t in threads: t.join(5)
    print("shutdown", ffitel.shutdown(timeout=2.0), flush=True)
"""


def run_and_signal(sig: int, setup: str = "") -> str:
    code = textwrap.dedent(BUSY_WORKER).replace("{setup}", setup)
    proc = subprocess.Popen([sys.executable, "-c", code], env=worker_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.3)  # let the threads log
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    return out


def test_sigint_raises_keyboard_interrupt_while_busy() -> None:
    out = run_and_signal(signal.SIGINT)
    assert out.split("\n")[:2] == ["KeyboardInterrupt", "shutdown True"]


def test_application_sigterm_handler_runs_while_busy() -> None:
    setup = ("signal.signal(signal.SIGTERM, "
             "lambda *a: (print('SIGTERM handled', flush=True), stop.set()))")
    out = run_and_signal(signal.SIGTERM, setup)
    assert out.split("\n")[:2] == ["SIGTERM handled", "shutdown True"]
