"""The fast schema check may only say valid where jsonschema does too, for every query schema of the spec."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from renkei.exchange.schemacheck import compile_check
from renkei.exchange.service import caller_schema
from renkei.spec.export.openapi import response_schema
from renkei.spec.loader import load_spec
from renkei.spec.models import ServiceKind

SPEC = load_spec()
SCHEMAS = {
    f"{service.id}#{side}": build(SPEC, kind, service)
    for kind, service in SPEC.services()
    if service.kind is ServiceKind.QUERY
    for side, build in (("request", caller_schema), ("response", response_schema))
}

JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=80),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def _valid(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values the property admits."""
    kind = schema.get("type")
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if kind == "string" and "pattern" in schema:
        return st.from_regex(schema["pattern"], fullmatch=True).filter(
            lambda v: schema.get("minLength", 0) <= len(v) <= schema.get("maxLength", 10**6)
        )
    if kind == "string":
        shortest, longest = schema.get("minLength", 0), schema.get("maxLength", 40)
        return st.text(min_size=shortest, max_size=max(shortest, longest))
    if kind in ("integer", "number"):
        low, high = schema.get("minimum", -(10**12)), schema.get("maximum", 10**12)
        if low > high:
            return st.nothing()
        found: st.SearchStrategy[Any] = st.integers(int(-(-low // 1)), int(high // 1))
        return found | st.floats(low, high) if kind == "number" else found
    return st.booleans()


def _miss(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Near misses: just past a bound, a JSON type Python confuses with the right one (a bool for an int,
    an int-valued float, a number for a string), other text, or anything at all."""
    edges = [b + d for k in ("minimum", "maximum") if (b := schema.get(k)) is not None for d in (-1, -0.5, 1)]
    lengths = [
        n for k in ("minLength", "maxLength") if (m := schema.get(k)) is not None for n in (m - 1, m + 1)
    ]
    confused = st.booleans() | st.integers(-3, 3) | st.floats(-3, 3) | st.sampled_from([0.0, 1.0, 2025.0])
    return st.one_of(
        st.sampled_from(edges or [0]),
        st.sampled_from([int(e) for e in edges] or [1]),
        st.sampled_from(lengths or [0]).map(lambda n: "1" * max(n, 0)),
        st.text(max_size=6),
        confused,
        JUNK,
    )


@st.composite
def instances(draw: st.DrawFn, schema: dict[str, Any]) -> Any:
    """Mostly valid instances with at most one thing wrong (a value, a missing or extra key), so that the
    fast check says yes often and its every yes is put to jsonschema."""
    if draw(st.integers(0, 30)) == 0:
        return draw(JUNK)
    properties: dict[str, Any] = schema["properties"]
    required = list(schema.get("required", []))
    alternatives = [branch["required"][0] for branch in schema.get("oneOf", [])]
    names = required + draw(st.lists(st.sampled_from(sorted(properties)), unique=True, max_size=3))
    if alternatives:
        names = [n for n in names if n not in alternatives] + [draw(st.sampled_from(alternatives))]
    instance = {name: draw(_valid(properties[name])) for name in dict.fromkeys(names)}
    fault = draw(st.sampled_from(["none", "value", "value", "value", "missing", "extra", "both"]))
    if fault == "value" and instance:
        name = draw(st.sampled_from(sorted(instance)))
        instance[name] = draw(_miss(properties[name]))
    elif fault == "missing" and instance:
        del instance[draw(st.sampled_from(sorted(instance)))]
    elif fault == "extra":
        instance[draw(st.text(max_size=8))] = draw(JUNK)
    elif fault == "both" and len(alternatives) > 1:
        for name in alternatives:
            instance[name] = draw(_valid(properties[name]))
    return instance


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_every_query_schema_compiles(name: str) -> None:
    assert compile_check(SCHEMAS[name]) is not None


@pytest.mark.parametrize("name", sorted(SCHEMAS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_fast_check_never_accepts_what_jsonschema_refuses(name: str, data: st.DataObject) -> None:
    schema = SCHEMAS[name]
    check = compile_check(schema)
    assert check is not None
    instance = data.draw(instances(schema))
    if check(instance):
        assert Draft202012Validator(schema).is_valid(instance), json.dumps(instance, default=str)[:300]


def test_the_fast_check_accepts_the_usual_request_and_answer() -> None:
    request = compile_check(SCHEMAS["income-certificate#request"])
    response = compile_check(SCHEMAS["income-certificate#response"])
    assert request is not None and response is not None
    assert request({"atena_number": "000000000000011", "fiscal_year": 2025})
    assert not request({"atena_number": "000000000000011", "person_fugo": "A", "fiscal_year": 2025})
    assert not request({"fiscal_year": 2025})
    answer = {"fiscal_year": 2025, "tax_status": "1", "total_income": 2_500_000, "taxable_income": 1_200_000}
    assert response(answer)
    assert not response({**answer, "fiscal_year": True})
    assert not response({**answer, "tax_status": "9"})


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_on_a_random_schema_of_the_handled_form_the_fast_check_is_sound(data: st.DataObject) -> None:
    """Beyond the spec's own schemas: random flat schemas with the keywords the fast check handles."""
    leaf = st.one_of(
        st.fixed_dictionaries(
            {"type": st.just("string")},
            optional={
                "minLength": st.integers(0, 3),
                "maxLength": st.integers(0, 5),
                "pattern": st.sampled_from(["^[0-9]+$", "a", "^$", "[ア-ン]"]),
                "enum": st.lists(st.text(max_size=2), min_size=1, max_size=3),
            },
        ),
        st.fixed_dictionaries(
            {"type": st.sampled_from(["integer", "number"])},
            optional={"minimum": st.integers(-5, 5) | st.floats(-5, 5), "maximum": st.integers(-5, 5)},
        ),
        st.fixed_dictionaries({"type": st.just("boolean")}),
    )
    properties = data.draw(st.dictionaries(st.sampled_from("abcd"), leaf, min_size=1))
    required = data.draw(st.lists(st.sampled_from(sorted(properties)), unique=True))
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
    if len(properties) >= 2 and data.draw(st.booleans()):
        a, b = sorted(properties)[:2]
        schema["oneOf"] = [{"required": [a]}, {"required": [b]}]
    check = compile_check(schema)
    assert check is not None
    instance = data.draw(instances(schema))
    assume(not isinstance(instance, float) or instance == instance)
    if check(instance):
        assert Draft202012Validator(schema).is_valid(instance), (schema, instance)
