"""Update/Cancel chains, states by the injected clock, drills and tests, corrections."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from renkei.commons.edxl import distribution_for
from renkei.commons.errors import ChainConflict
from renkei.commons.lifecycle import (
    AlertHistory,
    AlertState,
    cancel,
    correct,
    is_real,
    status_label,
    update,
    withdraw,
)
from renkei.commons.model import (
    CommonsReport,
    ContentObject,
    Correction,
    Distribution,
    DistributionStatus,
    DistributionType,
    MessageKind,
    MsgType,
    Status,
)
from renkei.commons.render import area_mail, radio_script, tv_banner, web_page
from renkei.commons.validation import validate_alert
from renkei.storage.clock import FixedClock
from tests.commons.builders import SENT, evacuation_alert, evacuation_info

INCIDENT = "INC-20240701-KANDA"


def test_update_supersedes_and_cancel_cancels() -> None:
    clock = FixedClock(SENT + timedelta(minutes=5))
    history = AlertHistory(clock)
    first = evacuation_alert()
    second = update(first, identifier="JP-131016-20240701-0002", sent=SENT + timedelta(minutes=30))
    history.add(first)
    history.add(second)
    assert history.state_of(first) is AlertState.SUPERSEDED
    assert history.state_of(second) is AlertState.ACTIVE
    assert history.current(INCIDENT) == (second,)
    assert history.chain(first) == (first, second)
    assert validate_alert(second).ok
    third = cancel(second, identifier="JP-131016-20240701-0003", sent=SENT + timedelta(hours=1))
    history.add(third)
    assert history.state_of(second) is AlertState.CANCELLED
    assert history.state_of(third) is AlertState.CANCELLED
    assert history.current(INCIDENT) == ()
    assert history.incident(INCIDENT) == (first, second, third)


def test_expiry_follows_the_clock() -> None:
    clock = FixedClock(SENT)
    history = AlertHistory(clock)
    alert = evacuation_alert()
    history.add(alert)
    assert history.state_of(alert) is AlertState.ACTIVE
    clock.advance(timedelta(hours=12))
    assert history.state_of(alert) is AlertState.EXPIRED
    assert history.active() == ()


def test_edxl_revisions_chain_without_cap_references() -> None:
    history = AlertHistory(FixedClock(SENT))
    first = evacuation_alert()
    second = replace(first, identifier="JP-131016-20240701-0002", msg_type=MsgType.UPDATE)
    history.add_distribution(distribution_for(first, document_id="DOC-1", document_revision=1))
    history.add_distribution(
        distribution_for(second, document_id="DOC-1", document_revision=2, previous_document_revision=1)
    )
    assert history.state_of(first) is AlertState.SUPERSEDED
    assert history.current(INCIDENT) == (second,)


def test_duplicates_are_idempotent_and_conflicts_refused() -> None:
    history = AlertHistory(FixedClock(SENT))
    alert = evacuation_alert()
    history.add(alert)
    history.add(alert)
    assert len(history) == 1
    with pytest.raises(ChainConflict):
        history.add(replace(alert, note="different"))


@pytest.mark.parametrize(
    ("status", "label"),
    [
        (Status.ACTUAL, ""),
        (Status.EXERCISE, "【訓練】"),
        (Status.TEST, "【テスト】"),
        (Status.SYSTEM, "【テスト】"),
    ],
)
def test_drills_and_tests_are_never_real(status: Status, label: str) -> None:
    alert = evacuation_alert(status=status)
    assert is_real(alert) is (status is Status.ACTUAL)
    assert status_label(alert) == label
    for text in (tv_banner(alert), area_mail(alert)[0].title, web_page(alert)):
        assert label in text
    spoken = {"": "", "【訓練】": "これは訓練です。", "【テスト】": "これはテストです。"}[label]
    assert radio_script(alert).startswith(spoken)
    assert radio_script(alert).endswith(spoken or "。")
    if label:
        assert tv_banner(alert).startswith(label)


def test_corrections_are_marked_and_rendered() -> None:
    first = evacuation_alert()
    fixed_info = evacuation_info(headline="【警戒レベル4】神保町地区に避難指示")
    corrected = correct(first, identifier="X-2", sent=SENT + timedelta(minutes=10), infos=[fixed_info])
    assert corrected.msg_type is MsgType.UPDATE
    assert corrected.correction is Correction.CORRECTED
    assert tv_banner(corrected).startswith("【訂正】")
    assert validate_alert(corrected).ok
    withdrawn = withdraw(
        first, identifier="X-3", sent=SENT + timedelta(minutes=10), note="誤って配信しました"
    )
    assert withdrawn.msg_type is MsgType.CANCEL
    assert withdrawn.correction is Correction.WITHDRAWN
    assert "【取消】" in tv_banner(withdrawn)
    assert "取り消されました" in radio_script(withdrawn)
    assert validate_alert(withdrawn).ok


def test_commons_reports_chain_by_document_revision() -> None:
    report = CommonsReport(MessageKind.DISASTER_HQ, "131016", "千代田区", SENT, "災害対策本部を設置しました")
    history = AlertHistory(FixedClock(SENT))

    def envelope(revision: int, previous: int | None, kind: DistributionType) -> Distribution:
        content = ContentObject(
            "HQ-1", revision, report, previous_document_revision=previous, incident_id="HQ"
        )
        return Distribution(
            f"D{revision}", "131016@commons", SENT, DistributionStatus.ACTUAL, kind, (content,)
        )

    history.add_distribution(envelope(1, None, DistributionType.REPORT))
    history.add_distribution(envelope(2, 1, DistributionType.UPDATE))
    first, second = history.incident("HQ")
    assert history.state_of(first) is AlertState.SUPERSEDED
    assert history.current("HQ") == (second,)
