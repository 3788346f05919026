"""Instrumentation libraries written against opentelemetry-api, unchanged,
inside ffitel spans: opentelemetry-instrumentation-urllib and -requests
against a real local HTTP server, exported through ffitel to the real
Collector."""

from __future__ import annotations

from typing import Any

from conftest import Collector, run_worker, service_name, wait_for

_SERVER = """
import http.server, threading
received = []
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        received.append(self.headers.get("traceparent"))
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
url = "http://127.0.0.1:%d/" % server.server_address[1]
"""


def _check(collector: Collector, service: str, stdout: str, parent_name: str) -> None:
    got = [line.split()[1] for line in stdout.splitlines() if line.startswith("SERVER-GOT")]
    assert got and got[0] != "None", f"the server received no traceparent: {stdout}"

    def ready() -> Any:
        spans = collector.spans(service)
        names = {s["name"] for s in spans}
        return spans if parent_name in names and "GET" in names else None
    spans = wait_for(ready)
    assert spans, f"spans did not arrive: {[s['name'] for s in collector.spans(service)]}"
    parent = next(s for s in spans if s["name"] == parent_name)
    client = next(s for s in spans if s["name"] == "GET")
    assert client["kind"] == 3, client  # CLIENT
    assert client["resource"]["service.name"] == service  # ffitel's resource
    assert client["traceId"] == parent["traceId"] and client["parentSpanId"] == parent["spanId"]
    _, trace_id, span_id, _ = got[0].split("-")
    assert trace_id == parent["traceId"], (got, parent["traceId"])
    assert span_id == client["spanId"]


def test_urllib_instrumentation_joins_the_ffitel_trace(collector: Collector) -> None:
    service = service_name("otel-urllib")
    proc = run_worker(_SERVER + """
import urllib.request, ffitel
ffitel.init_telemetry()
from opentelemetry.instrumentation.urllib import URLLibInstrumentor
URLLibInstrumentor().instrument()
with ffitel.span("fetch with urllib"):
    urllib.request.urlopen(url, timeout=10).read()
print("SERVER-GOT", received[0])
assert ffitel.shutdown(timeout=5.0)
""", env={**collector.env(), "OTEL_SERVICE_NAME": service})
    _check(collector, service, proc.stdout, "fetch with urllib")


def test_requests_instrumentation_joins_the_ffitel_trace(collector: Collector) -> None:
    service = service_name("otel-requests")
    proc = run_worker(_SERVER + """
import requests, ffitel
ffitel.init_telemetry()
from opentelemetry.instrumentation.requests import RequestsInstrumentor
RequestsInstrumentor().instrument()
with ffitel.span("fetch with requests"):
    assert requests.get(url, timeout=10).status_code == 200
print("SERVER-GOT", received[0])
assert ffitel.shutdown(timeout=5.0)
""", env={**collector.env(), "OTEL_SERVICE_NAME": service})
    _check(collector, service, proc.stdout, "fetch with requests")
