"""Errors of the ``audit`` context (codes ``audit.<noun>.<problem>``)."""

from __future__ import annotations

from renkei.errors import RenkeiError


class AuditError(RenkeiError):
    """The audit log failed an operation for a reason not covered by a subclass."""

    code = "audit.failed"
    http_status = 500


class RecordInvalid(AuditError):
    """An access record is malformed (empty or oversized text, naive time, a 個人番号 as subject …)."""

    code = "audit.record.invalid"
    http_status = 400


class RecordConflict(AuditError):
    """A record id is already in the log with different content; a logged record never changes."""

    code = "audit.record.conflict"
    http_status = 409


class RecordNotFound(AuditError):
    """No record with this id is in the log."""

    code = "audit.record.not_found"
    http_status = 404


class RecordNotCovered(AuditError):
    """The record is logged but no published tree head covers it yet (the next head will)."""

    code = "audit.record.not_covered"
    http_status = 409


class HeadNotFound(AuditError):
    """No signed tree head of the size asked for has been published."""

    code = "audit.head.not_found"
    http_status = 404


class ProofRequestInvalid(AuditError):
    """Tree sizes that no proof can relate (first > second, zero, beyond the log …)."""

    code = "audit.proof.invalid"
    http_status = 400


class SigningKeyInvalid(AuditError):
    """The head-signing key file is missing, unreadable or not an Ed25519 key."""

    code = "audit.key.invalid"
    http_status = 500
