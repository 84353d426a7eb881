"""The prover side of the Merkle tree (RFC 9162 §2.1): hashes, and which subtrees a proof is made of.

Leaf hash ``SHA-256(0x00 || leaf)``, node hash ``SHA-256(0x01 || left || right)``, the tree of ``n > 1``
leaves split at the largest power of two smaller than ``n``, the empty tree hashed as ``SHA-256("")``.

Proofs are planned as lists of leaf ranges ``[lo, hi)`` whose tree hashes form the proof; every such
range is a run of *complete* subtrees (``level``, ``position``: leaves ``[position·2^level,
(position+1)·2^level)``), which the log stores, so a proof costs one batched look-up however large the
log. The verifiers live in :mod:`renkei.audit.verify` and share no code with this module.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence

NodeKey = tuple[int, int]
"""``(level, position)`` of a complete subtree; level 0 is a leaf."""

EMPTY_ROOT = hashlib.sha256(b"").digest()


def hash_leaf(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_ranges(m: int, n: int) -> list[tuple[int, int]]:
    """The ranges whose hashes form PATH(m, D[n]) (RFC 9162 §2.1.3.1), leaf-side first."""
    if not 0 <= m < n:
        raise ValueError(f"leaf {m} is not in a tree of size {n}")
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, n
    while hi - lo > 1:
        k = split_point(hi - lo)
        if m - lo < k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()
    return ranges


def consistency_ranges(m: int, n: int) -> list[tuple[int, int]]:
    """The ranges whose hashes form PROOF(m, D[n]) (RFC 9162 §2.1.4.1), ``0 < m <= n``."""
    if not 0 < m <= n:
        raise ValueError(f"no consistency proof from size {m} to size {n}")
    ranges: list[tuple[int, int]] = []
    lo, hi, complete = 0, n, True
    while True:
        size = hi - lo
        if m - lo == size:
            if not complete:
                ranges.append((lo, hi))
            break
        k = split_point(size)
        if m - lo <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
            complete = False
    ranges.reverse()
    return ranges


def subtrees(lo: int, hi: int) -> list[NodeKey]:
    """The complete subtrees that make up ``[lo, hi)``, left to right.

    ``lo`` must be aligned as every range of an RFC 9162 proof is: a multiple of a power of two at least
    ``hi - lo`` (or zero).
    """
    keys: list[NodeKey] = []
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        keys.append((level, lo >> level))
        lo += 1 << level
    return keys


def range_hash(lo: int, hi: int, nodes: Mapping[NodeKey, bytes]) -> bytes:
    """MTH of leaves ``[lo, hi)`` from the hashes of its complete subtrees."""
    if lo == hi:
        return EMPTY_ROOT
    keys = subtrees(lo, hi)
    acc = nodes[keys[-1]]
    for key in reversed(keys[:-1]):
        acc = hash_children(nodes[key], acc)
    return acc


def needed_nodes(ranges: Iterable[tuple[int, int]]) -> set[NodeKey]:
    return {key for lo, hi in ranges for key in subtrees(lo, hi)}


def frontier(size: int) -> list[NodeKey]:
    """The complete subtrees on the right edge of a tree of ``size`` leaves (one per set bit)."""
    return subtrees(0, size)


def extend(
    size: int, edge: Mapping[NodeKey, bytes], leaf_hashes: Sequence[bytes]
) -> list[tuple[NodeKey, bytes]]:
    """The complete subtrees of level ≥ 1 that appending ``leaf_hashes`` to a tree of ``size`` completes.

    ``edge`` holds the hashes of :func:`frontier` ``(size)``.
    """
    stack: list[tuple[int, bytes]] = [(level, edge[(level, pos)]) for level, pos in frontier(size)]
    made: list[tuple[NodeKey, bytes]] = []
    for leaf in leaf_hashes:
        size += 1
        level, acc = 0, leaf
        while stack and stack[-1][0] == level:
            _, left = stack.pop()
            acc = hash_children(left, acc)
            level += 1
            made.append(((level, (size >> level) - 1), acc))
        stack.append((level, acc))
    return made


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) straight from the definition, for small trees and tests."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = split_point(n)
    return hash_children(root_of(leaf_hashes[:k]), root_of(leaf_hashes[k:]))


def prove_with(
    ranges: Sequence[tuple[int, int]], lookup: Callable[[set[NodeKey]], Mapping[NodeKey, bytes]]
) -> tuple[bytes, ...]:
    """The proof hashes of ``ranges``, fetching every subtree hash needed in one ``lookup`` call."""
    nodes = lookup(needed_nodes(ranges))
    return tuple(range_hash(lo, hi, nodes) for lo, hi in ranges)
