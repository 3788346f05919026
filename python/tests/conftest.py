"""Shared fixtures: the built library, a real OpenTelemetry Collector, and
worker subprocesses pointed at it.

The library reads its environment once when it loads, so every test that
exports runs its worker code in a fresh `python3 -c` subprocess with the
environment set. A test that needs the Collector fails (never skips) when the
binary is missing.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "python" / "src"
sys.path.insert(0, str(SRC))


def library() -> Path:
    env = os.environ.get("FFITEL_LIBRARY")
    return Path(env) if env else REPO / "build" / "libffitel.so"


def collector_binary() -> Path:
    env = os.environ.get("FFITEL_OTELCOL")
    return Path(env) if env else REPO / ".cache" / "otelcol" / "otelcol-ffitel"


@pytest.fixture(scope="session", autouse=True)
def built_library() -> Path:
    lib = library()
    if not lib.is_file():
        pytest.fail(f"{lib} is missing: run `make build` before the Python tests", pytrace=False)
    return lib


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _attrs(kvs: Optional[List[Dict[str, Any]]]) -> Dict[str, Any]:
    """OTLP JSON attributes as a plain dict (ints stay strings as OTLP writes them)."""
    out: Dict[str, Any] = {}
    for kv in kvs or []:
        v = kv.get("value", {})
        if "stringValue" in v:
            out[kv["key"]] = v["stringValue"]
        elif "intValue" in v:
            out[kv["key"]] = int(v["intValue"])
        elif "doubleValue" in v:
            out[kv["key"]] = v["doubleValue"]
        elif "boolValue" in v:
            out[kv["key"]] = v["boolValue"]
        else:
            out[kv["key"]] = v
    return out


class Collector:
    """A running Collector writing OTLP JSON lines into dir."""

    def __init__(self, dir: Path) -> None:
        bin = collector_binary()
        if not bin.is_file():
            pytest.fail(
                f"the OpenTelemetry Collector is missing at {bin}: run `make collector` "
                "(make test does it)", pytrace=False)
        self.dir = dir
        self.grpc_port = _free_port()
        self.http_port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.grpc_port}"
        self.log = open(dir / "collector.log", "wb")
        env = dict(os.environ,
                   FFITEL_COLLECTOR_OUT=str(dir),
                   FFITEL_COLLECTOR_GRPC_PORT=str(self.grpc_port),
                   FFITEL_COLLECTOR_HTTP_PORT=str(self.http_port))
        self.proc = subprocess.Popen(
            [str(bin), "--config", str(REPO / "e2e" / "collector" / "config.yaml")],
            env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        for port in (self.grpc_port, self.http_port):
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if self.proc.poll() is not None or time.monotonic() > deadline:
                        self.stop()
                        pytest.fail("the Collector did not start: "
                                    + (dir / "collector.log").read_text(errors="replace"),
                                    pytrace=False)
                    time.sleep(0.05)

    def env(self) -> Dict[str, str]:
        return {
            "TELEMETRY_ENABLED": "true",
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.endpoint,
            "OTEL_METRIC_EXPORT_INTERVAL": "500",
            "OTEL_BLRP_SCHEDULE_DELAY": "100",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # flushes the file exporters
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def _lines(self, name: str) -> Iterator[Dict[str, Any]]:
        path = self.dir / name
        if not path.exists():
            return
        with open(path, "rb") as f:
            for line in f:
                if line.endswith(b"\n") and line.strip():
                    yield json.loads(line)

    def _items(self, name: str, outer: str, inner: str, leaf: str,
               service: Optional[str]) -> List[Dict[str, Any]]:
        out = []
        for doc in self._lines(name):
            for res in doc.get(outer, []):
                rattrs = _attrs(res.get("resource", {}).get("attributes"))
                if service is not None and rattrs.get("service.name") != service:
                    continue
                for scope in res.get(inner, []):
                    for item in scope.get(leaf, []):
                        item = dict(item)
                        item["attrs"] = _attrs(item.get("attributes"))
                        item["resource"] = rattrs
                        item["scope"] = scope.get("scope", {}).get("name", "")
                        out.append(item)
        return out

    def logs(self, service: Optional[str] = None) -> List[Dict[str, Any]]:
        return self._items("logs.jsonl", "resourceLogs", "scopeLogs", "logRecords", service)

    def spans(self, service: Optional[str] = None) -> List[Dict[str, Any]]:
        return self._items("traces.jsonl", "resourceSpans", "scopeSpans", "spans", service)

    def metrics(self, service: Optional[str] = None) -> List[Dict[str, Any]]:
        return self._items("metrics.jsonl", "resourceMetrics", "scopeMetrics", "metrics", service)

    def count_logs(self, service: str, body_prefix: str = "") -> int:
        """Counts records without keeping them (volume tests)."""
        needle = f'"stringValue":"{service}"'
        n = 0
        for doc in self._lines("logs.jsonl"):
            for res in doc.get("resourceLogs", []):
                if needle not in json.dumps(res.get("resource", {}), separators=(",", ":")):
                    continue
                for scope in res.get("scopeLogs", []):
                    for r in scope.get("logRecords", []):
                        if r.get("body", {}).get("stringValue", "").startswith(body_prefix):
                            n += 1
        return n


def wait_for(cond: Callable[[], Any], timeout: float = 15.0, interval: float = 0.1) -> Any:
    """Polls cond until it returns something truthy; returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


@pytest.fixture(scope="session")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    c = Collector(tmp_path_factory.mktemp("collector"))
    yield c
    c.stop()


def worker_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OTEL_", "TELEMETRY_", "FFITEL_", "LOG_LEVEL"))}
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    env["FFITEL_LIBRARY"] = str(library())
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def run_worker(code: str, env: Optional[Dict[str, str]] = None, timeout: float = 60,
               check: bool = True) -> subprocess.CompletedProcess:
    """Runs code (dedented) in `python3 -c` with env; output captured as text."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=worker_env(env),
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"worker exited {proc.returncode}\nstdout:\n{proc.stdout}\n"
                             f"stderr:\n{proc.stderr[-4000:]}")
    return proc


def service_name(tag: str) -> str:
    return f"pytest-{tag}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def console() -> None:
    """Phase 2 in the test process itself: export is off there (no
    TELEMETRY_ENABLED), so it logs to the console only. Use with
    ``pytestmark = pytest.mark.usefixtures("console")``."""
    import ffitel
    ffitel.init_telemetry()


def logged(capfd: pytest.CaptureFixture[str]) -> str:
    """The console output (stderr) since the last read."""
    import ffitel
    ffitel.flush()  # phase 2 writes the console from a background goroutine
    return capfd.readouterr().err
