"""Rules every adapter applies to values before storing them, so that all backends behave the same.

PostgreSQL refuses NUL in text and counts string length in code points; SQLite accepts anything and checks
no length. Checking here, before the driver sees the value, gives one typed error on every backend.
"""

from __future__ import annotations

from datetime import UTC, datetime

from renkei.storage.errors import StorageValueInvalid


def check_text(field: str, value: str, *, max_length: int, allow_empty: bool = False) -> str:
    """Return ``value`` if every backend stores it unchanged, else raise ``storage.value.invalid``.

    Any Unicode scalar value is fine (non-BMP 外字 such as 𠮷, private-use characters); refused are NUL,
    lone surrogates (not encodable as UTF-8), the empty string unless allowed, and more than
    ``max_length`` code points.
    """
    if not isinstance(value, str):
        raise StorageValueInvalid(f"{field} must be text, not {type(value).__name__}", field=field)
    if not value and not allow_empty:
        raise StorageValueInvalid(f"{field} must not be empty", field=field)
    if len(value) > max_length:
        raise StorageValueInvalid(
            f"{field} has {len(value)} characters; at most {max_length} are stored",
            field=field,
            length=len(value),
            max_length=max_length,
        )
    if "\x00" in value:
        raise StorageValueInvalid(
            f"{field} contains NUL (U+0000), which PostgreSQL cannot store in text",
            field=field,
            position=value.index("\x00"),
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise StorageValueInvalid(
            f"{field} contains a lone surrogate at position {exc.start}; text must be valid Unicode",
            field=field,
            position=exc.start,
        ) from None
    return value


def to_utc(field: str, value: datetime) -> datetime:
    """``value`` as the same instant in UTC; naive datetimes are refused, not guessed."""
    if not isinstance(value, datetime):
        raise StorageValueInvalid(f"{field} must be a datetime, not {type(value).__name__}", field=field)
    if value.tzinfo is None or value.utcoffset() is None:
        raise StorageValueInvalid(
            f"{field} must be timezone-aware, got naive {value.isoformat()}", field=field
        )
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise StorageValueInvalid(
            f"{field} {value.isoformat()} is outside the range of representable UTC instants", field=field
        ) from None
