"""The auditor's check (第三者機関): recompute the whole log and hold it against every published head.

Independent of the prover: it hashes every leaf again from the stored body (or takes the stored leaf
hash where retention dropped the body), rebuilds the roots with its own compact-range fold, and checks
each head's Ed25519 signature over the documented layout. It trusts nothing the operator stored
besides the record rows and the heads.
"""

from __future__ import annotations

import hashlib

from renkei.audit.heads import head_message, key_id_of, signature_valid
from renkei.audit.models import Finding, SignedTreeHead, VerifyReport
from renkei.audit.ports import AuditStore

MAX_FINDINGS = 100
_EMPTY = hashlib.sha256(b"").digest()


def verify_log(store: AuditStore, public_key: bytes) -> VerifyReport:
    """Check every record against its leaf hash and every head against the records; report what is wrong.

    Finds, each with the first record index it implicates: a body that no longer hashes to its stored
    leaf hash (edited, moved to another index, inserted), a gap in the indices (deleted), a head whose
    signature does not verify (edited root, size, time or signature), a head whose root the records do
    not reproduce, heads whose times go backwards, heads covering records that are gone.
    """
    key_id = key_id_of(public_key)
    heads = store.heads()  # read before the rows: every head read covers only rows the scan will see
    findings: list[Finding] = []

    def found(finding: Finding) -> None:
        if len(findings) < MAX_FINDINGS:
            findings.append(finding)

    trusted: list[SignedTreeHead] = []
    previous_ms = -1
    for head in heads:
        message = head_message(key_id, head.tree_size, head.timestamp_ms, head.root_hash)
        if head.key_id != key_id or not signature_valid(public_key, message, head.signature):
            found(
                Finding(f"head of size {head.tree_size}: signature does not verify", head_size=head.tree_size)
            )
            continue
        if head.timestamp_ms < previous_ms:
            found(Finding(f"head of size {head.tree_size}: time goes backwards", head_size=head.tree_size))
        previous_ms = head.timestamp_ms
        trusted.append(head)

    stack: list[tuple[int, bytes]] = []  # (height, hash) of the complete subtrees on the right edge
    expected = 0
    good_size = 0  # the largest size whose published root the records reproduce
    unexplained: list[tuple[int, int]] = []  # (good size, head size) of heads whose root is not reproduced
    pending = iter(trusted)
    due = next(pending, None)

    def settle(size: int) -> None:
        nonlocal due, good_size
        while due is not None and due.tree_size == size:
            acc = _EMPTY
            if stack:
                acc = stack[-1][1]
                for _, left in reversed(stack[:-1]):
                    acc = hashlib.sha256(b"\x01" + left + acc).digest()
            if acc == due.root_hash:
                good_size = max(good_size, size)
            else:
                unexplained.append((good_size, size))
            due = next(pending, None)

    settle(0)
    for index, body, stored in store.scan():
        if index != expected:
            found(Finding(f"record {expected} is missing (the next stored index is {index})", index=expected))
        if body is None:
            leaf_hash = stored
        else:
            leaf_hash = hashlib.sha256(b'\x00{"index":%d,%s' % (expected, body[1:])).digest()
            if leaf_hash != stored:
                found(Finding(f"record {expected}: its body does not hash to its leaf hash", index=expected))
        height, acc = 0, leaf_hash
        while stack and stack[-1][0] == height:
            acc = hashlib.sha256(b"\x01" + stack.pop()[1] + acc).digest()
            height += 1
        stack.append((height, acc))
        expected += 1
        settle(expected)
    for head in ([due] if due is not None else []) + list(pending):
        found(
            Finding(
                f"head of size {head.tree_size} covers records from {expected} on, which are gone",
                index=expected,
                head_size=head.tree_size,
            )
        )
    exact = sorted(f.index for f in findings if f.index is not None)
    for good, size in unexplained:
        # The root cannot say which record in [good, size) is wrong; a record found bad there explains it.
        inside = [i for i in exact if good <= i < size]
        first = inside[0] if inside else good
        found(
            Finding(
                f"head of size {size}: the records do not reproduce its root; the first record it cannot "
                f"vouch for is {first}",
                index=first,
                head_size=size,
            )
        )
    return VerifyReport(records=expected, heads=len(heads), findings=tuple(findings))
