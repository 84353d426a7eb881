"""The shared vocabulary of identifiers, so that a unit number is never confused with a row number."""

from __future__ import annotations

from typing import NewType

UnitNumber = NewType("UnitNumber", int)
"""業務ユニット番号 as printed in the seed (1, 6, 30, 50 …)."""

InformationId = NewType("InformationId", str)
"""Identifier of an information kind (連携データ), e.g. ``resident-record`` for 住基情報."""

ItemId = NewType("ItemId", str)
"""Identifier of a data item inside an information kind, e.g. ``atena_number`` for 宛名番号."""

CodeDictionaryId = NewType("CodeDictionaryId", str)
"""Identifier of a code dictionary (コード辞書), e.g. ``sex`` for 性別."""

ServiceId = NewType("ServiceId", str)
"""Identifier of a query service or notification topic, e.g. ``income-certificate``."""
