"""Argument validation against a tool's `inputSchema` (JSON Schema draft 2020-12).

Validators are built once per distinct schema and cached, so validating a call costs one
dictionary lookup plus the check itself. `$defs` and local `$ref`s resolve inside the
schema; nothing is fetched from the network.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError


class ArgumentValidator:
    """Checks arguments against input schemas, caching one validator per schema."""

    def __init__(self, max_cached: int = 1024) -> None:
        self._validators: dict[str, Draft202012Validator | str] = {}
        self._max_cached = max_cached

    def validate(self, schema: Mapping[str, Any], arguments: Mapping[str, Any]) -> str | None:
        """The first problem with `arguments` as a readable message, or None when valid."""
        validator = self._validator(schema)
        if isinstance(validator, str):
            return validator
        error = next(iter(sorted(validator.iter_errors(arguments), key=_error_order)), None)
        if error is None:
            return None
        where = "/".join(str(part) for part in error.absolute_path)
        return f"invalid arguments: {error.message}" + (f" (at {where})" if where else "")

    def _validator(self, schema: Mapping[str, Any]) -> Draft202012Validator | str:
        key = json.dumps(schema, sort_keys=True, separators=(",", ":"), default=str)
        cached = self._validators.get(key)
        if cached is not None:
            return cached
        built: Draft202012Validator | str
        try:
            Draft202012Validator.check_schema(schema)
            built = Draft202012Validator(schema)
        except SchemaError as exc:
            # A broken schema cannot vouch for any arguments: fail closed.
            built = f"the tool's input schema is invalid: {exc.message}"
        if len(self._validators) >= self._max_cached:
            self._validators.pop(next(iter(self._validators)))
        self._validators[key] = built
        return built


def _error_order(error: Any) -> tuple[int, str]:
    return (len(error.absolute_path), str(error.message))
