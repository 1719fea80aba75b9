"""Shared pytest configuration: fixture plugins live in tests/fixtures/."""

from __future__ import annotations

pytest_plugins: list[str] = ["tests.fixtures.node", "tests.fixtures.redis"]
