"""Bulk 個人番号 issuance: 1,000,000 numbers from the persisted sequence, on one core.

Prints where the time goes (FF1 batch, check digits, digit formatting), then, as its last line,
``issued 1000000 individual numbers in X s (N/s)``. Also checks that no number repeats.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from renkei.identity.ff1 import FF1
from renkei.identity.keys import AES_KEY_SIZE, FF1_KEY, MemoryKeyStore
from renkei.identity.numbering import (
    INDIVIDUAL_BASE_DIGITS,
    INDIVIDUAL_TWEAK,
    NumberCodec,
    NumberIssuer,
    _digit_strings,
)
from renkei.japanese.checkdigit import individual_number_check_digits
from renkei.storage.sql.engine import connection_source, create_storage
from renkei.storage.sql.identity import SqlIdentityRepository

COUNT = 1_000_000


def breakdown(keys: MemoryKeyStore) -> None:
    """One pass through the stages separately, to show where the time goes."""
    cipher = FF1(keys.secret(FF1_KEY, AES_KEY_SIZE))
    sequence = np.arange(COUNT, dtype=np.uint64)
    t0 = time.perf_counter()
    encrypted = cipher.encrypt_decimal_batch(sequence, INDIVIDUAL_BASE_DIGITS, INDIVIDUAL_TWEAK)
    t1 = time.perf_counter()
    checks = individual_number_check_digits(encrypted).astype(np.uint64)
    t2 = time.perf_counter()
    numbers = _digit_strings(encrypted * np.uint64(10) + checks, INDIVIDUAL_BASE_DIGITS + 1)
    t3 = time.perf_counter()
    total = t3 - t0
    for stage, seconds in (
        ("FF1 (10 rounds, one AES-ECB call per round over 16 MB)", t1 - t0),
        ("check digits (individual_number_check_digits, NumPy)", t2 - t1),
        ("12-digit strings (NumPy)", t3 - t2),
    ):
        print(f"  {stage:<64} {seconds:6.2f} s  {100 * seconds / total:5.1f} %")
    assert len(numbers) == COUNT


def main() -> None:
    keys = MemoryKeyStore()
    with (
        tempfile.TemporaryDirectory() as scratch,
        create_storage(f"sqlite:///{Path(scratch) / 'renkei.db'}") as storage,
    ):
        issuer = NumberIssuer(SqlIdentityRepository(connection_source(storage)), NumberCodec(keys))
        print("stages:")
        breakdown(keys)
        start = time.perf_counter()
        numbers = [number for chunk in issuer.issue_individual(COUNT) for number in chunk]
        elapsed = time.perf_counter() - start
    if len(numbers) != COUNT or len(set(numbers)) != COUNT:
        sys.exit(f"duplicate or missing numbers: {COUNT - len(set(numbers))}")
    print(f"issued {COUNT} individual numbers in {elapsed:.2f} s ({COUNT / elapsed:,.0f}/s)")


if __name__ == "__main__":
    main()
