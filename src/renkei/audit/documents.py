"""The JSON shapes of heads and proofs, shared by ``renkei audit …`` and the HTTP API (one place decides
them; ``docs/audit.md`` documents them). Hashes, keys and signatures are lowercase hex."""

from __future__ import annotations

from typing import Any

from renkei.audit.leaf import format_time
from renkei.audit.models import ConsistencyProof, InclusionProof, SignedTreeHead

ALGORITHM = "Ed25519"


def head_document(head: SignedTreeHead, public_key: bytes) -> dict[str, Any]:
    return {
        "tree_size": head.tree_size,
        "timestamp_ms": head.timestamp_ms,
        "timestamp": format_time(head.timestamp),
        "root_hash": head.root_hash.hex(),
        "key_id": head.key_id.hex(),
        "signature": head.signature.hex(),
        "algorithm": ALGORITHM,
        "public_key": public_key.hex(),
    }


def inclusion_document(proof: InclusionProof, leaf: bytes | None = None) -> dict[str, Any]:
    document: dict[str, Any] = {
        "record_id": proof.record_id,
        "leaf_index": proof.leaf_index,
        "tree_size": proof.head.tree_size,
        "leaf_hash": proof.leaf_hash.hex(),
        "audit_path": [p.hex() for p in proof.path],
        "sth": head_document(proof.head, proof.public_key),
    }
    if leaf is not None:
        document["leaf"] = leaf.decode("utf-8")
    return document


def consistency_document(proof: ConsistencyProof) -> dict[str, Any]:
    return {
        "first": head_document(proof.first, proof.public_key),
        "second": head_document(proof.second, proof.public_key),
        "consistency_path": [p.hex() for p in proof.path],
    }


def public_key_document(public_key: bytes, key_id: bytes) -> dict[str, Any]:
    return {"algorithm": ALGORITHM, "public_key": public_key.hex(), "key_id": key_id.hex()}
