"""The ``audit`` context: access records (情報提供等記録) in an append-only, verifiable log.

Records go into a Merkle tree hashed as in RFC 9162; signed tree heads (STH) commit to it; inclusion and
consistency proofs let residents and auditors (第三者機関) check it without trusting the operator. The
exchange hub writes through :class:`renkei.audit.ports.AccessRecorder`; see ``docs/audit.md``.
"""
