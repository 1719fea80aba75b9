"""The stdio fixture server, reporting its life to the test that started it.

Connects to 127.0.0.1:$CALLGATE_TEST_REPORT_PORT and writes its pid; the connection stays
open while the process lives, so the test sees the exit as the end of that connection,
with no polling. `reporting_server.py fail` reports, then exits with status 3 at once (a
command that cannot serve).
"""

from __future__ import annotations

import os
import runpy
import socket
import sys
from pathlib import Path

REPORT_PORT = "CALLGATE_TEST_REPORT_PORT"


def main() -> None:
    """Report, then serve (or fail)."""
    report = socket.create_connection(("127.0.0.1", int(os.environ[REPORT_PORT])))
    report.sendall(f"{os.getpid()}\n".encode())
    if sys.argv[1:] == ["fail"]:
        print("reporting_server: failing on purpose", file=sys.stderr)
        sys.exit(3)
    sys.argv = [sys.argv[0], "stdio"]
    # The connection stays open (referenced here) until the process exits.
    runpy.run_path(str(Path(__file__).with_name("upstream_server.py")), run_name="__main__")
    report.close()


if __name__ == "__main__":
    main()
