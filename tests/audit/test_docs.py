"""docs/audit.md's reference verifier, extracted and executed, checks real proofs from the log."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature

from renkei.audit.documents import inclusion_document
from tests.audit.factories import access_record, sqlite_log

DOC = Path(__file__).resolve().parents[2] / "docs" / "audit.md"
Verifier = Callable[[dict[str, Any], str], bool]


def reference_verifier() -> Verifier:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Reference verifier") :]
    block = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert block is not None
    code = block.group(1)
    assert len(code.strip().splitlines()) <= 30, "the reference verifier must stay short"
    namespace: dict[str, Any] = {}
    exec(compile(code, str(DOC), "exec"), namespace)
    verifier: Verifier = namespace["verify_inclusion_proof"]
    return verifier


def test_the_documented_verifier_checks_real_proofs(tmp_path: Path) -> None:
    verify = reference_verifier()
    with sqlite_log(tmp_path / "a.db") as log:
        receipts = log.append_many([access_record(i) for i in range(13)])
        log.publish_head()
        documents = [
            json.loads(
                json.dumps(inclusion_document(log.inclusion_proof(r.record_id), log.leaf(r.record_id)))
            )
            for r in receipts
        ]
        key = log.public_key.hex()
    for document in documents:
        assert verify(document, key)
        wrong_leaf = dict(document, leaf=document["leaf"].replace("msg-", "msg-X"))
        assert not verify(wrong_leaf, key)
        wrong_index = dict(document, leaf_index=(document["leaf_index"] + 1) % 13)
        wrong_index.pop("leaf")
        assert not verify(wrong_index, key)
    forged = copy.deepcopy(documents[0])
    forged["sth"]["root_hash"] = "00" * 32
    with pytest.raises(InvalidSignature):
        verify(forged, key)
    with pytest.raises(InvalidSignature):
        verify(documents[0], "11" * 32)
