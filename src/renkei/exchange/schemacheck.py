"""A fast yes for the request and response schemas the spec exports, before jsonschema is asked.

``jsonschema`` walks a schema generically (a validator object per sub-schema and keyword), which cost the
hub about as much as verifying the request's ES256 signature. The spec's query schemas use a handful of
keywords on flat objects, so :func:`compile_check` turns such a schema into one plain function. It may only
ever say *valid* when jsonschema would too (the property test in ``tests/exchange/test_schemacheck.py``
checks that against jsonschema): when it says no, or when a schema uses anything it does not know, the hub
asks jsonschema, which decides and lists the errors.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Check = Callable[[Any], bool]

#: Keywords that never make an instance invalid (annotations; ``format`` is not asserted by default).
_ANNOTATIONS = frozenset({"title", "description", "format", "$comment", "examples", "default"})
_LEAF = frozenset({"type", "enum", "minLength", "maxLength", "pattern", "minimum", "maximum"})
_OBJECT = frozenset({"type", "properties", "required", "additionalProperties", "oneOf"})


def compile_check(schema: Mapping[str, Any]) -> Check | None:
    """A function that returns True only for instances ``schema`` accepts, or None when the schema uses a
    keyword or form this module does not handle (the caller then always uses jsonschema)."""
    if _unknown(schema, _OBJECT) or schema.get("type") != "object":
        return None
    if schema.get("additionalProperties", False) is not False:
        return None
    properties = schema.get("properties", {})
    required = schema.get("required", [])
    if not isinstance(properties, dict) or not _strings(required):
        return None
    checks: dict[str, Check] = {}
    for name, sub in properties.items():
        check = _leaf(sub) if isinstance(sub, dict) else None
        if check is None:
            return None
        checks[name] = check
    alternatives = _alternatives(schema.get("oneOf"))
    if alternatives is None:
        return None
    needed = frozenset(required)
    known = frozenset(checks)

    def valid(instance: Any) -> bool:
        if type(instance) is not dict or not needed <= instance.keys() or not instance.keys() <= known:
            return False
        if alternatives and sum(1 for keys in alternatives if keys <= instance.keys()) != 1:
            return False
        return all(checks[name](value) for name, value in instance.items())

    return valid


def _alternatives(one_of: Any) -> list[frozenset[str]] | None:
    """``oneOf`` made only of ``{"required": [...]}`` branches, as key sets (``[]`` when absent)."""
    if one_of is None:
        return []
    if not isinstance(one_of, list) or not one_of:
        return None
    found = []
    for branch in one_of:
        if not isinstance(branch, dict) or set(branch) != {"required"} or not _strings(branch["required"]):
            return None
        found.append(frozenset(branch["required"]))
    return found


def _leaf(schema: Mapping[str, Any]) -> Check | None:
    if _unknown(schema, _LEAF):
        return None
    kind = schema.get("type")
    tests: list[Check] = []
    if kind == "string":
        tests.append(lambda v: type(v) is str)
        low, high = schema.get("minLength"), schema.get("maxLength")
        if low is not None or high is not None:
            if not all(b is None or type(b) is int for b in (low, high)):
                return None
            low_n, high_n = low or 0, high
            tests.append(lambda v: low_n <= len(v) and (high_n is None or len(v) <= high_n))
        if "pattern" in schema:
            try:
                search = re.compile(schema["pattern"]).search
            except (re.error, TypeError):
                return None
            tests.append(lambda v: search(v) is not None)
    elif kind in ("integer", "number"):
        if "minLength" in schema or "maxLength" in schema or "pattern" in schema:
            return None
        allowed: tuple[type, ...] = (int,) if kind == "integer" else (int, float)
        tests.append(lambda v: type(v) in allowed)  # never bool (a subclass of int), as jsonschema
        low, high = schema.get("minimum"), schema.get("maximum")
        if not all(b is None or type(b) in (int, float) for b in (low, high)):
            return None
        if low is not None:
            tests.append(lambda v: bool(v >= low))
        if high is not None:
            tests.append(lambda v: bool(v <= high))
    elif kind == "boolean":
        if _LEAF & set(schema) - {"type", "enum"}:
            return None
        tests.append(lambda v: type(v) is bool)
    else:
        return None
    if "enum" in schema:
        values = schema["enum"]
        if not isinstance(values, list) or not _strings(values) or kind != "string":
            return None
        members = frozenset(values)
        tests.append(lambda v: v in members)
    return lambda v: all(test(v) for test in tests)


def _unknown(schema: Mapping[str, Any], known: frozenset[str]) -> bool:
    return any(k not in known and k not in _ANNOTATIONS and not k.startswith("x-") for k in schema)


def _strings(values: Any) -> bool:
    return isinstance(values, list) and all(type(v) is str for v in values)
