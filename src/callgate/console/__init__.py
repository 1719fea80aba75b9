"""The operator console: a web page to approve held calls, watch decisions as they happen,
read each tool's risk, the limits in use, the audit log and the policy.

    views.py     what each page shows, built from store and audit data (pure)
    pages.py     the Tools, Limits and verification views, gathered then built
    sources.py   where it reads and writes: approval store, audit log, policy, tool catalog
    auth.py      the admin token, sessions, CSRF, loopback
    streams.py   server-sent events (the inbox, the decisions stream)
    routes.py    the Starlette routes; `build_console_app`

Served two ways from this one code: mounted at `/console` by `callgate run --listen ...
--admin-token-env VAR`, and standalone by `callgate console`.
"""

from __future__ import annotations

from callgate.console.routes import build_console_app
from callgate.console.sources import ConsoleSources, PolicyTracker

__all__ = ["ConsoleSources", "PolicyTracker", "build_console_app"]
