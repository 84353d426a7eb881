"""The storage errors: dotted codes under ``storage.``, HTTP statuses, and a hierarchy callers can rely on."""

from __future__ import annotations

import pytest

from renkei.errors import InvalidInput, RenkeiError
from renkei.storage import errors

ALL = [
    errors.StorageError,
    errors.StorageUnavailable,
    errors.StorageBusy,
    errors.StorageConflict,
    errors.StorageValueInvalid,
    errors.StorageUrlInvalid,
    errors.MigrationFailed,
    errors.MigrationPending,
]


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_every_error_is_a_renkei_error_with_its_own_storage_code(cls: type[errors.StorageError]) -> None:
    assert issubclass(cls, RenkeiError)
    assert cls.code.startswith("storage.")
    error = cls("what happened", where="x")
    assert str(error) == f"{cls.code}: what happened"
    assert error.detail == {"where": "x"}


def test_codes_are_unique_and_stable() -> None:
    assert {c.__name__: (c.code, c.http_status) for c in ALL} == {
        "StorageError": ("storage.failed", 500),
        "StorageUnavailable": ("storage.unavailable", 503),
        "StorageBusy": ("storage.busy", 503),
        "StorageConflict": ("storage.conflict", 409),
        "StorageValueInvalid": ("storage.value.invalid", 400),
        "StorageUrlInvalid": ("storage.url.invalid", 500),
        "MigrationFailed": ("storage.migration.failed", 500),
        "MigrationPending": ("storage.migration.pending", 503),
    }


def test_busy_is_unavailable_and_invalid_values_are_invalid_input() -> None:
    assert issubclass(errors.StorageBusy, errors.StorageUnavailable)
    assert issubclass(errors.StorageValueInvalid, InvalidInput)
