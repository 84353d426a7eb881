"""The audit log over HTTP: signed tree heads, inclusion and consistency proofs, the public key.

Serves hashes and signatures only, never a record body (the resident portal shows a person's own
records behind its authentication).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from renkei.audit.documents import (
    consistency_document,
    head_document,
    inclusion_document,
    public_key_document,
)
from renkei.audit.heads import key_id_of
from renkei.audit.service import AuditLog

router = APIRouter(prefix="/audit", tags=["audit"])

MAX_HEADS = 1000


def audit_log(request: Request) -> AuditLog:
    """The log ``app.py`` wired into ``app.state.audit_log``."""
    found = request.app.state.audit_log
    assert isinstance(found, AuditLog)
    return found


Log = Annotated[AuditLog, Depends(audit_log)]


@router.get("/heads/latest", summary="最新の署名付きツリーヘッド (latest signed tree head)")
def latest_head(log: Log) -> dict[str, Any]:
    return head_document(log.latest_head(), log.public_key)


@router.get("/heads", summary="署名付きツリーヘッド一覧 (published heads, smallest first)")
def heads(
    log: Log,
    from_size: Annotated[int, Query(ge=0, description="only heads with tree_size >= from_size")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_HEADS)] = 100,
) -> list[dict[str, Any]]:
    return [head_document(h, log.public_key) for h in log.heads(from_size=from_size, limit=limit)]


@router.get("/records/{record_id}/proof", summary="包含証明 (inclusion proof of one record)")
def inclusion_proof(
    record_id: str,
    log: Log,
    tree_size: Annotated[int | None, Query(ge=1, description="a published head (default: latest)")] = None,
) -> dict[str, Any]:
    return inclusion_document(log.inclusion_proof(record_id, tree_size))


@router.get("/consistency", summary="一貫性証明 (consistency proof between two heads)")
def consistency_proof(
    log: Log, first: Annotated[int, Query(ge=1)], second: Annotated[int, Query(ge=1)]
) -> dict[str, Any]:
    return consistency_document(log.consistency_proof(first, second))


@router.get("/public-key", summary="ヘッド署名の公開鍵 (the key that verifies heads)")
def public_key(log: Log) -> dict[str, Any]:
    return public_key_document(log.public_key, key_id_of(log.public_key))
