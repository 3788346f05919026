"""`python -m ffitel doctor`: checks that this machine's telemetry gets through."""

from __future__ import annotations

import sys
from typing import List, Optional

USAGE = """usage: python -m ffitel doctor

  doctor   prints the resolved configuration (secrets redacted), the library
           and its version, sends one test log record, span and metric point
           to the configured collector and reports each (bounded by
           FFITEL_SHUTDOWN_TIMEOUT_MS), then the pipeline stats.
           Exit status: 0 every exported signal got through, 1 one did not,
           2 export is off (and why)."""


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["doctor"] and len(args) == 1:
        from ._doctor import run
        return run()
    print(USAGE, file=sys.stderr if args[:1] not in (["-h"], ["--help"]) else sys.stdout)
    return 0 if args[:1] in (["-h"], ["--help"]) else 64


if __name__ == "__main__":
    sys.exit(main())
