"""Alert lifecycle: Update/Cancel chains, states, drills and tests, corrections (誤報). Pure logic.

An Update supersedes and a Cancel cancels the messages it names in CAP ``references`` (or, in an EDXL
distribution, the earlier revision named by ``previousDocumentRevision``). A message is

* ``cancelled`` when a Cancel names it, or when it is itself a Cancel;
* ``superseded`` when an Update names it;
* ``expired`` when every info has ``expires`` and the injected clock is past the latest of them;
* ``active`` otherwise.

Only ``status = Actual`` is real (:func:`is_real`): 訓練 (Exercise) and テスト (Test, System) — and drafts —
are never shown as real; renderers prefix :func:`status_label`. A correction of an erroneous report is an
Update carrying the parameter ``公共情報コモンズ:誤報 = 訂正`` or a Cancel carrying ``… = 取消``
(:func:`correct`, :func:`withdraw`), rendered 【訂正】/【取消】.

:class:`AlertHistory` is in-memory and storage-free: the delivery side persists alerts and rebuilds a
history (or keeps one per incident) to answer "what is current for incident X".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from enum import StrEnum

from renkei.commons.edxl import alert_of
from renkei.commons.errors import ChainConflict
from renkei.commons.model import (
    PARAMETER_CORRECTION,
    Alert,
    Correction,
    Distribution,
    Info,
    MsgType,
    NamedValue,
    Reference,
    Status,
)
from renkei.storage.ports import Clock


class AlertState(StrEnum):
    """Where a message stands in its chain."""

    ACTIVE = "active"
    SUPERSEDED = "superseded"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


def is_real(alert: Alert) -> bool:
    """Whether ``alert`` is a real alert (``Actual``); 訓練/テスト/System/Draft never are."""
    return alert.status is Status.ACTUAL


def status_label(alert: Alert) -> str:
    """Channel prefix: 【訓練】 (Exercise), 【テスト】 (Test/System/Draft), then 【訂正】/【取消】."""
    label = {Status.ACTUAL: "", Status.EXERCISE: "【訓練】"}.get(alert.status, "【テスト】")
    correction = alert.correction
    if correction is not None:
        label += f"【{correction.value}】"
    return label


def expiry(alert: Alert) -> datetime | None:
    """When ``alert`` expires: the latest ``expires`` if every info has one, else never (``None``)."""
    expiries = [i.expires for i in alert.infos]
    if not alert.infos or any(e is None for e in expiries):
        return None
    return max(e for e in expiries if e is not None)


def initial_state(alert: Alert) -> AlertState:
    """The state a message has on its own, before anything follows it: a Cancel is cancelled at once."""
    return AlertState.CANCELLED if alert.msg_type is MsgType.CANCEL else AlertState.ACTIVE


def state_at(state: AlertState, expires: datetime | None, now: datetime) -> AlertState:
    """The state ``now`` of a message whose chain left it in ``state``: an active one past ``expires``
    (see :func:`expiry`) has expired."""
    if state is AlertState.ACTIVE and expires is not None and now >= expires:
        return AlertState.EXPIRED
    return state


def followed_by(earlier: AlertState, follower: MsgType) -> AlertState:
    """What an earlier revision of a stored chain becomes when a later message joins the chain.

    Chain-wide rule for stores that keep one chain per incident (``renkei.commons.service``): a Cancel
    ends the whole chain (every revision is cancelled), an Update supersedes what was active, anything
    else changes nothing. :class:`AlertHistory` applies the per-message form (only the messages named).
    """
    if follower is MsgType.CANCEL:
        return AlertState.CANCELLED
    if follower is MsgType.UPDATE and earlier is AlertState.ACTIVE:
        return AlertState.SUPERSEDED
    return earlier


def _key(reference: Reference) -> tuple[str, str]:
    # CAP says sender+identifier is unique; ``sent`` is carried for humans and is compared loosely.
    return (reference.sender, reference.identifier)


def _mark(infos: Iterable[Info], correction: Correction | None) -> tuple[Info, ...]:
    if correction is None:
        return tuple(infos)
    marker = NamedValue(PARAMETER_CORRECTION, correction.value)
    return tuple(
        replace(i, parameters=(marker, *(p for p in i.parameters if p.value_name != PARAMETER_CORRECTION)))
        for i in infos
    )


def update(
    previous: Alert,
    *,
    identifier: str,
    sent: datetime,
    infos: Iterable[Info] | None = None,
    correction: bool = False,
) -> Alert:
    """An Update of ``previous`` (same sender, status, scope, incidents); ``correction`` marks 訂正 (誤報)."""
    return replace(
        previous,
        identifier=identifier,
        sent=sent,
        msg_type=MsgType.UPDATE,
        references=(previous.reference_key,),
        infos=_mark(previous.infos if infos is None else infos, Correction.CORRECTED if correction else None),
    )


def cancel(previous: Alert, *, identifier: str, sent: datetime, note: str | None = None) -> Alert:
    """A Cancel of ``previous`` (its infos kept so channels can say what was cancelled)."""
    return replace(
        previous,
        identifier=identifier,
        sent=sent,
        msg_type=MsgType.CANCEL,
        note=note,
        references=(previous.reference_key,),
    )


def correct(previous: Alert, *, identifier: str, sent: datetime, infos: Iterable[Info]) -> Alert:
    """A correction (訂正) of an erroneous report: an Update carrying the 誤報 marker 訂正."""
    return update(previous, identifier=identifier, sent=sent, infos=infos, correction=True)


def withdraw(previous: Alert, *, identifier: str, sent: datetime, note: str | None = None) -> Alert:
    """A withdrawal (取消) of an erroneous report: a Cancel carrying the 誤報 marker 取消."""
    cancelled = cancel(previous, identifier=identifier, sent=sent, note=note)
    return replace(cancelled, infos=_mark(cancelled.infos, Correction.WITHDRAWN))


class AlertHistory:
    """The messages seen so far and their chains; states are computed against the injected clock."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._alerts: dict[tuple[str, str], Alert] = {}
        self._superseded_by: dict[tuple[str, str], tuple[str, str]] = {}
        self._cancelled_by: dict[tuple[str, str], tuple[str, str]] = {}
        self._documents: dict[tuple[str, int], tuple[str, str]] = {}

    def __len__(self) -> int:
        return len(self._alerts)

    def __contains__(self, item: object) -> bool:
        return (
            isinstance(item, Alert | Reference)
            and _key(item if isinstance(item, Reference) else item.reference_key) in self._alerts
        )

    def add(self, alert: Alert, *, replaces: Iterable[Reference] = ()) -> None:
        """Record ``alert``; ``replaces`` adds predecessors known from the envelope (EDXL revisions).

        Adding the same message twice is a no-op; a different message with the same sender and identifier
        raises :class:`ChainConflict` (``commons.chain.conflict``).
        """
        key = _key(alert.reference_key)
        known = self._alerts.get(key)
        if known is not None:
            if known != alert:
                raise ChainConflict(
                    f"another message with sender {alert.sender} and identifier {alert.identifier} exists",
                    sender=alert.sender,
                    identifier=alert.identifier,
                )
            return
        self._alerts[key] = alert
        targets = [_key(r) for r in (*alert.references, *replaces)]
        if alert.msg_type is MsgType.UPDATE:
            for target in targets:
                self._superseded_by.setdefault(target, key)
        elif alert.msg_type is MsgType.CANCEL:
            for target in targets:
                self._cancelled_by.setdefault(target, key)

    def add_distribution(self, distribution: Distribution) -> None:
        """Record every content of an EDXL distribution (Commons reports as their CAP view), chaining
        document revisions: ``previousDocumentRevision`` names the message this one replaces."""
        for content in distribution.contents:
            alert = alert_of(distribution, content)
            replaces: list[Reference] = []
            if content.previous_document_revision is not None:
                earlier = self._documents.get((content.document_id, content.previous_document_revision))
                if earlier is not None:
                    replaces.append(self._alerts[earlier].reference_key)
            self.add(alert, replaces=replaces)
            self._documents[(content.document_id, content.document_revision)] = _key(alert.reference_key)

    def get(self, reference: Reference) -> Alert | None:
        """The recorded message named by ``reference``."""
        return self._alerts.get(_key(reference))

    def state_of(self, message: Alert | Reference) -> AlertState:
        """The state of a recorded message now (by the clock)."""
        key = _key(message if isinstance(message, Reference) else message.reference_key)
        alert = self._alerts.get(key)
        if alert is None:
            raise ChainConflict(f"unknown message {key[0]},{key[1]}", sender=key[0], identifier=key[1])
        own = initial_state(alert)
        if own is AlertState.CANCELLED or key in self._cancelled_by:
            return AlertState.CANCELLED
        if key in self._superseded_by:
            return AlertState.SUPERSEDED
        return state_at(own, expiry(alert), self._clock.now())

    def chain(self, message: Alert | Reference) -> tuple[Alert, ...]:
        """Every message linked to ``message`` by references, oldest first (by ``sent``)."""
        start = _key(message if isinstance(message, Reference) else message.reference_key)
        links: dict[tuple[str, str], set[tuple[str, str]]] = {}
        for key, alert in self._alerts.items():
            for reference in alert.references:
                links.setdefault(key, set()).add(_key(reference))
                links.setdefault(_key(reference), set()).add(key)
        for source in (self._superseded_by, self._cancelled_by):
            for target, by in source.items():
                links.setdefault(target, set()).add(by)
                links.setdefault(by, set()).add(target)
        seen = {start}
        todo = [start]
        while todo:
            for neighbour in links.get(todo.pop(), set()):
                if neighbour not in seen:
                    seen.add(neighbour)
                    todo.append(neighbour)
        members = [self._alerts[k] for k in seen if k in self._alerts]
        return tuple(sorted(members, key=lambda a: (a.sent, a.identifier)))

    def incident(self, incident: str) -> tuple[Alert, ...]:
        """Every message of ``incident``: those naming it and everything chained to them, oldest first."""
        found: dict[tuple[str, str], Alert] = {}
        for alert in self._alerts.values():
            if incident in alert.incidents:
                for member in self.chain(alert):
                    found[_key(member.reference_key)] = member
        return tuple(sorted(found.values(), key=lambda a: (a.sent, a.identifier)))

    def current(self, incident: str) -> tuple[Alert, ...]:
        """What is current for ``incident``: its active messages (empty when all were cancelled/expired)."""
        return tuple(a for a in self.incident(incident) if self.state_of(a) is AlertState.ACTIVE)

    def active(self) -> tuple[Alert, ...]:
        """Every active message, oldest first."""
        return tuple(
            sorted(
                (a for a in self._alerts.values() if self.state_of(a) is AlertState.ACTIVE),
                key=lambda a: (a.sent, a.identifier),
            )
        )
