"""The prover against the RFC 6962/9162 reference vectors, and against the independent verifiers for every
leaf and every pair of sizes of many trees (hypothesis)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from renkei.audit import merkle
from renkei.audit.verify import consistency_valid, inclusion_valid, leaf_hash, root_from_inclusion

# The Certificate Transparency reference leaves and the roots of their first n leaves (RFC 6962 hashing).
CT_LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_PATHS = {
    0: [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    5: [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
}


def all_subtrees(leaves: list[bytes]) -> dict[merkle.NodeKey, bytes]:
    """Every complete subtree of the tree over ``leaves`` (leaf hashes), by brute force."""
    nodes: dict[merkle.NodeKey, bytes] = {(0, i): h for i, h in enumerate(leaves)}
    level = 0
    while len(leaves) >> (level + 1):
        for pos in range(len(leaves) >> (level + 1)):
            nodes[(level + 1, pos)] = merkle.hash_children(
                nodes[(level, 2 * pos)], nodes[(level, 2 * pos + 1)]
            )
        level += 1
    return nodes


def leaves_of(n: int, salt: int = 0) -> list[bytes]:
    return [merkle.hash_leaf(f"{salt}:{i}".encode()) for i in range(n)]


def prove_inclusion(nodes: dict[merkle.NodeKey, bytes], m: int, n: int) -> tuple[bytes, ...]:
    return merkle.prove_with(merkle.inclusion_ranges(m, n), lambda keys: {k: nodes[k] for k in keys})


def prove_consistency(nodes: dict[merkle.NodeKey, bytes], m: int, n: int) -> tuple[bytes, ...]:
    return merkle.prove_with(merkle.consistency_ranges(m, n), lambda keys: {k: nodes[k] for k in keys})


def test_roots_match_the_reference_vectors() -> None:
    hashes = [merkle.hash_leaf(leaf) for leaf in CT_LEAVES]
    nodes = all_subtrees(hashes)
    for n, expected in enumerate(CT_ROOTS):
        assert merkle.root_of(hashes[:n]).hex() == expected
        assert merkle.range_hash(0, n, nodes).hex() == expected


@pytest.mark.parametrize("m", sorted(CT_PATHS))
def test_inclusion_paths_match_the_reference_vectors(m: int) -> None:
    hashes = [merkle.hash_leaf(leaf) for leaf in CT_LEAVES]
    path = prove_inclusion(all_subtrees(hashes), m, 8)
    assert [p.hex() for p in path] == CT_PATHS[m]
    assert inclusion_valid(m, 8, leaf_hash(CT_LEAVES[m]), path, bytes.fromhex(CT_ROOTS[8]))


def test_the_verifier_hashes_as_the_prover_does() -> None:
    assert leaf_hash(b"x") == merkle.hash_leaf(b"x") == hashlib.sha256(b"\x00x").digest()


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=300), st.integers(min_value=0, max_value=2**16))
def test_every_leaf_of_a_tree_is_proven_and_nothing_else(n: int, salt: int) -> None:
    leaves = leaves_of(n, salt)
    nodes = all_subtrees(leaves)
    root = merkle.root_of(leaves)
    assert merkle.range_hash(0, n, nodes) == root
    for m in range(n):
        path = prove_inclusion(nodes, m, n)
        assert inclusion_valid(m, n, leaves[m], path, root)
        # The proof names its leaf: another leaf, index or size does not verify.
        assert not inclusion_valid(m, n, leaves[(m + 1) % n], path, root) or n == 1
        assert not inclusion_valid(m + 1, n, leaves[m], path, root)
        if path:
            assert not inclusion_valid(m, n, leaves[m], path[:-1], root)
            assert not inclusion_valid(m, n, leaves[m], (*path, root), root)
            broken = bytearray(path[0])
            broken[0] ^= 1
            assert not inclusion_valid(m, n, leaves[m], (bytes(broken), *path[1:]), root)


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=1, max_value=130), st.integers(min_value=0, max_value=2**16))
def test_every_pair_of_sizes_is_consistent(n: int, salt: int) -> None:
    leaves = leaves_of(n, salt)
    nodes = all_subtrees(leaves)
    roots = [merkle.root_of(leaves[:size]) for size in range(n + 1)]
    for first in range(1, n + 1):
        for second in range(first, n + 1):
            path = prove_consistency(nodes, first, second)
            assert consistency_valid(first, second, roots[first], roots[second], path), (first, second)
            if first < second:
                other = merkle.hash_leaf(b"forged")
                assert not consistency_valid(first, second, other, roots[second], path)
                assert not consistency_valid(first, second, roots[first], other, path)
                if path:
                    assert not consistency_valid(first, second, roots[first], roots[second], path[:-1])


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_large_random_trees_prove_random_leaves_and_pairs(data: st.DataObject) -> None:
    n = data.draw(st.integers(min_value=1, max_value=5000))
    m = data.draw(st.integers(min_value=0, max_value=n - 1))
    first = data.draw(st.integers(min_value=1, max_value=n))
    leaves = leaves_of(n)
    nodes = all_subtrees(leaves)
    root = merkle.range_hash(0, n, nodes)
    assert inclusion_valid(m, n, leaves[m], prove_inclusion(nodes, m, n), root)
    first_root = merkle.range_hash(0, first, nodes)
    assert consistency_valid(first, n, first_root, root, prove_consistency(nodes, first, n))


def test_appending_completes_exactly_the_subtrees_a_full_rebuild_has() -> None:
    leaves = leaves_of(77)
    stored: dict[merkle.NodeKey, bytes] = {(0, i): h for i, h in enumerate(leaves)}
    size = 0
    for batch in (1, 2, 5, 8, 13, 21, 27):
        edge = {k: stored[k] for k in merkle.frontier(size)}
        stored.update(merkle.extend(size, edge, leaves[size : size + batch]))
        size += batch
        assert merkle.range_hash(0, size, stored) == merkle.root_of(leaves[:size])
    assert stored == all_subtrees(leaves)


@pytest.mark.parametrize(("m", "n"), [(-1, 4), (4, 4), (0, 0)])
def test_no_inclusion_proof_outside_the_tree(m: int, n: int) -> None:
    with pytest.raises(ValueError, match="not in a tree"):
        merkle.inclusion_ranges(m, n)
    assert root_from_inclusion(m, n, b"x" * 32, []) is None


@pytest.mark.parametrize(("m", "n"), [(0, 4), (5, 4)])
def test_no_consistency_proof_between_impossible_sizes(m: int, n: int) -> None:
    with pytest.raises(ValueError, match="no consistency proof"):
        merkle.consistency_ranges(m, n)
    assert not consistency_valid(m, n, b"x" * 32, b"x" * 32, [b"y" * 32])
