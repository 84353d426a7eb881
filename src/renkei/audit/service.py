"""The audit log's use cases: append records, publish signed tree heads, prove, list, retain."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime

from renkei.audit import merkle
from renkei.audit.auditor import verify_log
from renkei.audit.errors import (
    HeadNotFound,
    ProofRequestInvalid,
    RecordConflict,
    RecordNotCovered,
    RecordNotFound,
)
from renkei.audit.heads import HeadSigner, head_message, key_id_of
from renkei.audit.leaf import canonical_json, decode_body, encode_bodies, leaf_bytes, record_object
from renkei.audit.models import (
    AccessRecord,
    ConsistencyProof,
    InclusionProof,
    LoggedRecord,
    RecordReceipt,
    SignedTreeHead,
    VerifyReport,
)
from renkei.audit.ports import AuditReader, AuditStore, NewEntry, StoredEntry
from renkei.storage.ports import Clock

RETENTION_YEARS = 7


class AuditLog:
    """The append-only log of access records: an :class:`~renkei.audit.ports.AccessRecorder` for the hub,
    and the prover residents and auditors ask for heads and proofs."""

    def __init__(self, store: AuditStore, signer: HeadSigner, clock: Clock) -> None:
        self._store = store
        self._signer = signer
        self._clock = clock
        self._key_id = key_id_of(signer.public_key)

    @property
    def public_key(self) -> bytes:
        """The raw Ed25519 key that verifies this log's heads."""
        return self._signer.public_key

    # --- AccessRecorder ---------------------------------------------------------------------------

    def append(self, record: AccessRecord) -> RecordReceipt:
        return self.append_many([record])[0]

    def append_many(self, records: Sequence[AccessRecord]) -> list[RecordReceipt]:
        records = list(records)
        if not records:
            return []
        ids = [r.record_id for r in records]
        with self._store.writing() as tx:
            existing = tx.entries(ids)
            known: dict[str, RecordReceipt] = {}
            if not existing and len(set(ids)) == len(ids):
                fresh = records  # the usual case: every record is new, none repeats
            else:
                fresh, known = _sort_out(records, existing)
            size = tx.size()
            at = self._clock.now()
            entries: list[NewEntry] = []
            sha256 = hashlib.sha256
            # The leaf is ``{"index":N,`` + the body without its "{" (leaf.leaf_bytes); hashed as
            # merkle.hash_leaf does, without building the leaf bytes a second time.
            for index, (r, body) in enumerate(zip(fresh, encode_bodies(fresh, at), strict=True), size):
                digest = sha256(b'\x00{"index":%d,' % index)
                digest.update(body.encode("utf-8")[1:])
                entries.append(NewEntry(index, r.record_id, r.subject, r.withheld, at, body, digest.digest()))
            if entries:
                edge = tx.nodes(merkle.frontier(size))
                nodes = merkle.extend(size, edge, [e.leaf_hash for e in entries])
                tx.add_entries(entries, nodes)
        made = [RecordReceipt(e.record_id, e.index, e.leaf_hash, e.recorded_at) for e in entries]
        if fresh is records:
            return made
        known.update((receipt.record_id, receipt) for receipt in made)
        return [known[record_id] for record_id in ids]

    # --- heads ------------------------------------------------------------------------------------

    def publish_head(self) -> SignedTreeHead:
        """Sign and store a head over every record logged so far (run on a timer, and on demand).

        Returns the latest head unchanged when no record was added since it was published. Serialised
        with appends, so heads' timestamps never go backwards as their sizes grow.
        """
        with self._store.writing() as tx:
            size = tx.size()
            latest = tx.latest_head()
            if latest is not None and latest.tree_size == size:
                return latest
            root = merkle.range_hash(0, size, tx.nodes(merkle.frontier(size)))
            now_ms = int(self._clock.now().timestamp() * 1000)
            timestamp_ms = max(now_ms, latest.timestamp_ms if latest is not None else 0)
            signature = self._signer.sign(head_message(self._key_id, size, timestamp_ms, root))
            head = SignedTreeHead(size, timestamp_ms, root, self._key_id, signature)
            tx.add_head(head)
        return head

    def latest_head(self) -> SignedTreeHead:
        with self._store.reading() as tx:
            head = tx.latest_head()
        if head is None:
            raise HeadNotFound("no tree head has been published yet")
        return head

    def head(self, tree_size: int) -> SignedTreeHead:
        with self._store.reading() as tx:
            return _head(tx, tree_size)

    def heads(self, *, from_size: int = 0, limit: int | None = None) -> list[SignedTreeHead]:
        return self._store.heads(from_size=from_size, limit=limit)

    # --- proofs -----------------------------------------------------------------------------------

    def inclusion_proof(self, record_id: str, tree_size: int | None = None) -> InclusionProof:
        """The record's inclusion proof against the published head of ``tree_size`` (default: latest)."""
        with self._store.reading() as tx:
            entry = tx.entry(record_id)
            if entry is None:
                raise RecordNotFound(f"no record {record_id} in the audit log", record_id=record_id)
            head = tx.latest_head() if tree_size is None else _head(tx, tree_size)
            if head is None or entry.index >= head.tree_size:
                raise RecordNotCovered(
                    f"record {record_id} (index {entry.index}) is not covered by "
                    + ("any published head yet" if head is None else f"the head of size {head.tree_size}"),
                    record_id=record_id,
                    index=entry.index,
                )
            path = merkle.prove_with(merkle.inclusion_ranges(entry.index, head.tree_size), tx.nodes)
        return InclusionProof(record_id, entry.index, entry.leaf_hash, path, head, self.public_key)

    def consistency_proof(self, first: int, second: int) -> ConsistencyProof:
        """Proof that the published head of size ``second`` extends the one of size ``first``."""
        if not 0 < first <= second:
            raise ProofRequestInvalid(
                f"a consistency proof needs 0 < first <= second, got {first} and {second}",
                first=first,
                second=second,
            )
        with self._store.reading() as tx:
            a, b = _head(tx, first), _head(tx, second)
            path = merkle.prove_with(merkle.consistency_ranges(first, second), tx.nodes)
        return ConsistencyProof(a, b, path, self.public_key)

    # --- records ----------------------------------------------------------------------------------

    def record(self, record_id: str) -> LoggedRecord:
        with self._store.reading() as tx:
            entry = tx.entry(record_id)
        if entry is None:
            raise RecordNotFound(f"no record {record_id} in the audit log", record_id=record_id)
        return _logged(entry)

    def leaf(self, record_id: str) -> bytes | None:
        """The record's leaf bytes (``None`` after retention dropped its body)."""
        with self._store.reading() as tx:
            entry = tx.entry(record_id)
        if entry is None:
            raise RecordNotFound(f"no record {record_id} in the audit log", record_id=record_id)
        return None if entry.body is None else leaf_bytes(entry.index, entry.body)

    def records_of(
        self, subject: str, *, include_withheld: bool = False, after: int = -1, limit: int = 100
    ) -> list[LoggedRecord]:
        """A person's records for the portal, oldest first; 不開示 records only with ``include_withheld``."""
        entries = self._store.entries_of(subject, include_withheld=include_withheld, after=after, limit=limit)
        return [_logged(e) for e in entries]

    # --- auditing ---------------------------------------------------------------------------------

    def verify(self, public_key: bytes | None = None) -> VerifyReport:
        """Recompute the whole log against every head (:func:`renkei.audit.auditor.verify_log`), trusting
        ``public_key`` (default: this log's own key)."""
        return verify_log(self._store, public_key or self.public_key)

    # --- retention --------------------------------------------------------------------------------

    def apply_retention(self, years: int = RETENTION_YEARS) -> int:
        """Drop the bodies (and person keys) of records logged more than ``years`` ago; leaf hashes stay,
        so the tree, its heads and every proof remain valid. Returns how many records lost their body."""
        return self._store.drop_bodies(years_before(self._clock.now(), years))


def years_before(at: datetime, years: int) -> datetime:
    """The same calendar instant ``years`` earlier (29 February falls back to the 28th)."""
    try:
        return at.replace(year=at.year - years)
    except ValueError:
        return at.replace(year=at.year - years, day=28)


def _head(tx: AuditReader, tree_size: int) -> SignedTreeHead:
    head = tx.head(tree_size)
    if head is None:
        raise HeadNotFound(f"no tree head of size {tree_size} has been published", tree_size=tree_size)
    return head


def _receipt(entry: StoredEntry) -> RecordReceipt:
    return RecordReceipt(entry.record_id, entry.index, entry.leaf_hash, entry.recorded_at)


def _logged(entry: StoredEntry) -> LoggedRecord:
    record = None if entry.body is None else decode_body(entry.body)[0]
    return LoggedRecord(entry.index, entry.record_id, entry.leaf_hash, entry.recorded_at, record)


def _sort_out(
    records: list[AccessRecord], existing: dict[str, StoredEntry]
) -> tuple[list[AccessRecord], dict[str, RecordReceipt]]:
    """The records to log (first occurrences of new ids) and the receipts of those already logged.

    Raises :class:`RecordConflict` for a logged id with other content, or an id twice with different
    content in the batch.
    """
    fresh: list[AccessRecord] = []
    known: dict[str, RecordReceipt] = {}
    seen: dict[str, AccessRecord] = {}
    for record in records:
        stored = existing.get(record.record_id)
        earlier = seen.get(record.record_id)
        if stored is not None:
            _check_same(record, stored)
            known[record.record_id] = _receipt(stored)
        elif earlier is not None:
            if earlier != record:
                raise RecordConflict(
                    f"record {record.record_id} appears twice in one batch with different content",
                    record_id=record.record_id,
                )
        else:
            seen[record.record_id] = record
            fresh.append(record)
    return fresh, known


def _check_same(record: AccessRecord, stored: StoredEntry) -> None:
    if stored.body is None:
        return  # retention dropped it; the id alone shows it was logged long ago
    logged = json.loads(stored.body)["record"]
    if canonical_json(logged) != canonical_json(record_object(record)):
        raise RecordConflict(
            f"record {record.record_id} is already logged (index {stored.index}) with other content; "
            "a logged record never changes",
            record_id=record.record_id,
            index=stored.index,
        )
