"""callgate: a transparent MCP proxy that judges every tool call before it reaches the server."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
