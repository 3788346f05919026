"""`python -m ffitel doctor`: is this worker's telemetry getting through?

The checks are the library's (ffitel_doctor_json); this module prints them.
Exit status: 0 every exported signal got through, 1 one did not (or the
library could not be loaded), 2 export is off.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Dict, List, Optional, TextIO

from . import _native, _state

EXIT_OK, EXIT_FAILED, EXIT_DISABLED = 0, 1, 2


def run(out: Optional[TextIO] = None, timeout_ms: int = -1) -> int:
    """Runs the doctor, prints the report on out (stdout) and returns the exit status."""
    out = out or sys.stdout
    from . import __version__
    p = lambda *a: print(*a, file=out)  # noqa: E731
    p(f"ffitel doctor (python package {__version__})")
    try:
        native = _state.library()
        if native is None:
            p("result: FAILED: this process was forked after the library was loaded")
            return EXIT_FAILED
        report: Dict[str, Any] = json.loads(native.read_buffer(native.doctor_json, timeout_ms,
                                                               initial=16384))
    except _native.Error as exc:
        p(f"library: {_library_path_or_unknown()}")
        p(f"result: FAILED: the library could not be used: {exc}")
        return EXIT_FAILED
    p(f"library: {os.path.realpath(native.path)} (version {native.version_string}, ABI {native.abi_version()})")
    print_report(report, p)
    code = int(report.get("exit_code", EXIT_FAILED))
    # Whatever was not sent within the bound is not waited for again.
    _state.bounded("shutdown", 0 if code == EXIT_FAILED else None)
    return code


def _library_path_or_unknown() -> str:
    try:
        return _native.library_path()
    except _native.Error as exc:
        return f"not found ({exc})"


def print_report(report: Dict[str, Any], p: Any) -> None:
    """Prints the configuration, the per-signal results, the stats and the verdict."""
    p("configuration (secrets redacted):")
    settings: List[Dict[str, str]] = report.get("config") or []
    width = max((len(s["key"]) for s in settings), default=0)
    for s in settings:
        p(f"  {s['key'].ljust(width)}  {s['value']}")
    status = report.get("status")
    if status == "disabled":
        p(f"export: off ({report.get('disabled_reason', '')})")
    else:
        p(f"export (each bounded by {report.get('timeout_ms')} ms):")
        for s in report.get("signals") or []:
            where = s.get("exporter", "")
            if s.get("protocol"):
                where += f" {s['protocol']}"
            if s.get("endpoint"):
                where += f" {s['endpoint']}"
            if not s.get("tested"):
                result = "not pushed"
            elif s.get("ok"):
                result = f"ok ({s.get('ms')} ms)"
            else:
                result = f"FAILED after {s.get('ms')} ms: {s.get('error', '')}"
            p(f"  {s['signal'].ljust(7)}  {result}  [{where}]")
    stats = report.get("stats") or {}
    p("pipeline stats:")
    for sig in ("logs", "spans"):
        st = stats.get(sig) or {}
        p(f"  {sig.ljust(7)}  " + " ".join(
            f"{k}={st.get(k, 0)}" for k in ("emitted", "exported", "dropped", "failed", "pending")))
    p(f"  metrics  exports={stats.get('metric_exports', 0)} "
      f"failures={stats.get('metric_export_failures', 0)}")
    p(f"  input_errors={stats.get('input_errors', 0)}")
    if status == "ok":
        p("result: ok: every exported signal got through")
    elif status == "disabled":
        p(f"result: export is off: {report.get('disabled_reason', '')} "
          "(set TELEMETRY_ENABLED=true and leave OTEL_SDK_DISABLED unset to export)")
    else:
        failed = [s for s in report.get("signals") or [] if s.get("tested") and not s.get("ok")]
        p("result: FAILED: " + "; ".join(
            f"{s['signal']} did not reach {s.get('endpoint') or s.get('exporter')}" for s in failed))
