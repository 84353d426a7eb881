"""Verifiers of inclusion and consistency proofs, written from RFC 9162 §2.1.3.2 and §2.1.4.2.

Deliberately independent of the prover (:mod:`renkei.audit.merkle`): own hashing, and the RFC's
bit-walking algorithms instead of the prover's recursive split, so that a bug in one is not mirrored
in the other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from renkei.audit.heads import head_message, key_id_of, signature_valid
from renkei.audit.models import ConsistencyProof, InclusionProof, SignedTreeHead


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def root_from_inclusion(leaf_index: int, tree_size: int, leaf: bytes, path: Sequence[bytes]) -> bytes | None:
    """The root that ``path`` leads to from ``leaf`` (a leaf hash), or ``None`` if the path is malformed."""
    if not 0 <= leaf_index < tree_size:
        return None
    fn, sn, r = leaf_index, tree_size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = _node(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def inclusion_valid(leaf_index: int, tree_size: int, leaf: bytes, path: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2: does ``path`` prove leaf hash ``leaf`` at ``leaf_index`` in the tree ``root``?"""
    return root_from_inclusion(leaf_index, tree_size, leaf, path) == root


def consistency_valid(
    first: int, second: int, first_root: bytes, second_root: bytes, path: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: does ``path`` prove the tree ``second_root`` extends the tree ``first_root``?"""
    if not 0 < first <= second:
        return False
    if first == second:
        return not path and first_root == second_root
    if not path:
        return False
    proof = list(path)
    if first & (first - 1) == 0:  # an exact power of two: the old root is itself a node of the new tree
        proof.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = _node(c, fr)
            sr = _node(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _node(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


def head_valid(head: SignedTreeHead, public_key: bytes) -> bool:
    """Is ``head`` signed by ``public_key`` over the documented layout?"""
    if head.key_id != key_id_of(public_key) or len(head.root_hash) != 32:
        return False
    message = head_message(head.key_id, head.tree_size, head.timestamp_ms, head.root_hash)
    return signature_valid(public_key, message, head.signature)


def inclusion_proof_valid(proof: InclusionProof, public_key: bytes) -> bool:
    """The whole check a resident's client makes: the head's signature, then the path to its root."""
    head = proof.head
    return head_valid(head, public_key) and inclusion_valid(
        proof.leaf_index, head.tree_size, proof.leaf_hash, proof.path, head.root_hash
    )


def consistency_proof_valid(proof: ConsistencyProof, public_key: bytes) -> bool:
    """An auditor's check: both heads signed, and the second tree extends the first."""
    a, b = proof.first, proof.second
    return (
        head_valid(a, public_key)
        and head_valid(b, public_key)
        and consistency_valid(a.tree_size, b.tree_size, a.root_hash, b.root_hash, proof.path)
    )
