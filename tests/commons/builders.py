"""Builders of valid Commons alerts for tests (a 避難情報 from 千代田区 and friends)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from renkei.commons.model import (
    Alert,
    Area,
    Category,
    Certainty,
    Circle,
    EvacuationContent,
    EvacuationEntry,
    EvacuationLevel,
    Info,
    IssueAction,
    MsgType,
    NamedValue,
    Point,
    Polygon,
    Scope,
    Severity,
    Status,
    Urgency,
    with_content,
)

JST = timezone(timedelta(hours=9))
SENT = datetime(2024, 7, 1, 9, 30, tzinfo=JST)
CHIYODA = "131016"
SQUARE = Polygon(
    (
        Point(35.68, 139.75),
        Point(35.68, 139.77),
        Point(35.70, 139.77),
        Point(35.70, 139.75),
        Point(35.68, 139.75),
    )
)


def evacuation_info(**changes: object) -> Info:
    info = Info(
        categories=(Category.GEO,),
        event="避難指示",
        urgency=Urgency.IMMEDIATE,
        severity=Severity.SEVERE,
        certainty=Certainty.LIKELY,
        language="ja-JP",
        effective=SENT,
        expires=SENT + timedelta(hours=12),
        sender_name="千代田区",
        headline="【警戒レベル4】神田地区に避難指示",
        description="大雨により土砂災害の危険が高まっています。",
        instruction="危険な場所から全員避難してください。",
        areas=(
            Area(
                area_desc="千代田区神田地区",
                polygons=(SQUARE,),
                circles=(Circle(Point(35.69, 139.76), 1.5),),
                geocodes=(NamedValue("地方公共団体コード", CHIYODA),),
            ),
        ),
    )
    info = with_content(
        info,
        EvacuationContent(
            entries=(
                EvacuationEntry(
                    EvacuationLevel.EVACUATION_ORDER, IssueAction.ISSUED, "神田", 1200, 2500, SENT
                ),
            ),
            hazard="土砂災害",
        ),
    )
    return replace(info, **changes)  # type: ignore[arg-type]


def evacuation_alert(**changes: object) -> Alert:
    alert = Alert(
        identifier="JP-131016-20240701-0001",
        sender="bousai@city.chiyoda.lg.jp",
        sent=SENT,
        status=Status.ACTUAL,
        msg_type=MsgType.ALERT,
        scope=Scope.PUBLIC,
        incidents=("INC-20240701-KANDA",),
        infos=(evacuation_info(),),
    )
    return replace(alert, **changes)  # type: ignore[arg-type]
