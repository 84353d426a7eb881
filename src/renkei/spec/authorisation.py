"""May unit X receive information Y from unit Z? The matrix answers, naming the row that says so.

The hub's authorisation builds on :func:`decide`; ``renkei spec why`` prints its verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

from renkei.spec.models import Spec, Triple
from renkei.types import UnitNumber


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer for one (information, from, to) triple."""

    information: str
    information_name: str
    sender: UnitNumber
    receiver: UnitNumber
    rule: Triple | None
    senders_allowed: tuple[UnitNumber, ...]
    """Units that may send this information to ``receiver`` (empty when none)."""
    receivers_allowed: tuple[UnitNumber, ...]
    """Units that ``sender`` may send this information to (empty when none)."""

    @property
    def allowed(self) -> bool:
        return self.rule is not None

    def explain(self, spec: Spec) -> str:
        """A Japanese sentence with the English for integrators."""
        s, r = spec.unit(self.sender), spec.unit(self.receiver)
        head = f"{self.information_name}: ({s.number}) {s.name} → ({r.number}) {r.name}"
        if self.rule is not None:
            return (
                f"許可 (allowed): {head} — 連携マトリクス 行{self.rule.row} "
                f"(matrix row {self.rule.row}, provenance {self.rule.provenance})"
            )
        parts = [
            f"不許可 (denied): {head} — 連携マトリクスにこの組合せの行はありません (no matrix row allows it)"
        ]
        if self.receivers_allowed:
            parts.append(f"({s.number}) の送信先 (sender may send it to): {_numbers(self.receivers_allowed)}")
        else:
            parts.append(f"({s.number}) はこの情報を提供しません (unit {s.number} does not provide it)")
        if self.senders_allowed:
            parts.append(
                f"({r.number}) の送信元 (receiver may get it from): {_numbers(self.senders_allowed)}"
            )
        else:
            parts.append(f"({r.number}) はこの情報を受け取りません (unit {r.number} does not receive it)")
        return "\n".join(parts)


def _numbers(units: tuple[UnitNumber, ...]) -> str:
    return ", ".join(str(u) for u in units)


def decide(spec: Spec, information: str, sender: int, receiver: int) -> Verdict:
    """Decide whether ``sender`` may send ``information`` (id or Japanese name) to ``receiver``."""
    kind = spec.kind(information)
    s, r = spec.unit(sender), spec.unit(receiver)
    triples = [t for t in spec.triples() if t.information == kind.id]
    return Verdict(
        information=kind.id,
        information_name=kind.name,
        sender=s.number,
        receiver=r.number,
        rule=spec.rule(kind.id, s.number, r.number),
        senders_allowed=tuple(sorted({t.sender for t in triples if t.receiver == r.number})),
        receivers_allowed=tuple(sorted({t.receiver for t in triples if t.sender == s.number})),
    )
