"""`decide` names the row that allows a triple, and explains a denial."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from renkei.spec.authorisation import decide
from renkei.spec.errors import UnknownInformation, UnknownUnit
from renkei.spec.loader import load_spec
from renkei.spec.models import Spec

SPEC = load_spec()


def test_allowed_names_the_row(spec: Spec) -> None:
    verdict = decide(spec, "個人住民税情報", 6, 17)
    assert verdict.allowed
    assert verdict.rule is not None and verdict.rule.row == 28
    assert "行28" in verdict.explain(spec)


def test_denied_names_who_may(spec: Spec) -> None:
    verdict = decide(spec, "individual-resident-tax", 6, 19)
    assert not verdict.allowed
    assert 19 not in verdict.receivers_allowed and 17 in verdict.receivers_allowed
    text = verdict.explain(spec)
    assert "不許可" in text and "17" in text


def test_reverse_direction_is_denied(spec: Spec) -> None:
    assert decide(spec, "住基情報", 1, 6).allowed
    assert not decide(spec, "住基情報", 6, 1).allowed


def test_unknowns_are_typed(spec: Spec) -> None:
    with pytest.raises(UnknownUnit):
        decide(spec, "住基情報", 1, 99)
    with pytest.raises(UnknownInformation):
        decide(spec, "未知情報", 1, 6)


@given(
    st.sampled_from([k.id for k in SPEC.information]),
    st.sampled_from([u.number for u in SPEC.units]),
    st.sampled_from([u.number for u in SPEC.units]),
)
def test_allowed_exactly_when_a_flow_row_connects_them(information: str, sender: int, receiver: int) -> None:
    connected = [
        f.row
        for f in SPEC.flows
        if information in f.information and sender in f.senders and receiver in f.receivers
    ]
    verdict = decide(SPEC, information, sender, receiver)
    assert verdict.allowed == bool(connected)
    if connected:
        assert verdict.rule is not None and verdict.rule.row == min(connected)
