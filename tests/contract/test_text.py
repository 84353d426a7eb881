"""Text round-trips any Unicode (non-BMP 外字, private use) and is refused the same way where it cannot."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from renkei.storage.errors import StorageValueInvalid
from renkei.storage.models import SpecRelease
from tests.contract.backends import Backend, examples

T0 = datetime(2026, 4, 1, tzinfo=UTC)
# Every Unicode scalar value except NUL: non-BMP (𠮷), private use (U+E000…, U+F0000…), combining marks …
texts = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=100)
_numbers = itertools.count()


@settings(examples, max_examples=60)
@given(name=texts, digest=texts)
@example(name="𠮷野家", digest="\U00020bb7")
@example(name="\ue000\uf8ff 外字 (PUA)", digest="\U000f0000\U0010fffd")
@example(name="髙﨑 ｶﾞ ｶ\u3099 👨\u200d👩\u200d👧", digest=" trailing space ")
@example(name="line\r\nbreak\ttab", digest="\u2028\u2029\ufeff\ufffd")
def test_any_text_round_trips(backend: Backend, name: str, digest: str) -> None:
    version = f"{next(_numbers)}/{name}"
    recorded = backend.storage.spec_releases.record(version, digest, T0)
    assert recorded == SpecRelease(version, digest, T0)
    assert backend.storage.spec_releases.get(version) == recorded
    assert backend.storage.spec_releases.current() in backend.storage.spec_releases.history()


def test_the_length_limit_counts_characters_not_bytes(backend: Backend) -> None:
    longest = "𠮷" * 128  # 512 bytes of UTF-8, 256 UTF-16 code units, 128 characters
    recorded = backend.storage.spec_releases.record(longest, longest, T0)
    assert backend.storage.spec_releases.get(longest) == recorded
    with pytest.raises(StorageValueInvalid) as raised:
        backend.storage.spec_releases.record("𠮷" * 129, "d", T0)
    assert raised.value.detail["max_length"] == 128


@pytest.mark.parametrize(
    ("version", "digest", "reason"),
    [
        pytest.param("a\x00b", "d", "NUL", id="nul-in-version"),
        pytest.param("v", "\x00", "NUL", id="nul-in-digest"),
        pytest.param("v\ud800", "d", "surrogate", id="lone-surrogate"),
        pytest.param("", "d", "empty", id="empty-version"),
    ],
)
def test_text_no_backend_can_store_identically_is_refused(
    backend: Backend, version: str, digest: str, reason: str
) -> None:
    with pytest.raises(StorageValueInvalid) as raised:
        backend.storage.spec_releases.record(version, digest, T0)
    assert raised.value.code == "storage.value.invalid"
    assert reason in raised.value.message
    assert backend.storage.spec_releases.history() == []


def test_looking_up_a_version_with_nul_is_refused_too(backend: Backend) -> None:
    with pytest.raises(StorageValueInvalid):
        backend.storage.spec_releases.get("a\x00b")
