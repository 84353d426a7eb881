"""No issued 個人番号 leaks: not into logs, exception messages, CLI output or any identity table row.

The whole identity scenario runs with every log record captured at DEBUG; every exception, CLI output and
every row of every identity table (the numbering table included: it holds sequence values, not numbers) is
then searched with the scanner and for each issued number verbatim.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from renkei.cli.identity import identity_app
from renkei.errors import RenkeiError
from renkei.identity.card import CardAuthenticator, CardIssuer, CardReader
from renkei.identity.scan import find_individual_numbers
from renkei.identity.service import IdentityService, LinkageBase
from renkei.storage.clock import FixedClock
from renkei.storage.ports import Storage
from renkei.storage.sql.engine import connection_source
from renkei.storage.sql.identity import LINKAGE_TABLES, identity_number
from tests.identity.conftest import LG_A, LG_B, basic_info


def test_no_issued_number_appears_outside_the_numbering_authority(
    caplog: pytest.LogCaptureFixture,
    storage: Storage,
    identity: IdentityService,
    linkage: LinkageBase,
    card_issuer: CardIssuer,
    reader: CardReader,
    authenticator: CardAuthenticator,
    clock: FixedClock,
) -> None:
    caplog.set_level(logging.DEBUG, logger="renkei")
    issued: list[str] = []
    evidence: list[str] = []

    def attempt(action: object) -> None:
        assert callable(action)
        try:
            action()
        except RenkeiError as error:
            evidence.extend((str(error), repr(error), repr(dict(error.detail)), error.message))

    people = [identity.enrol(basic_info(f"住民{i}")) for i in range(5)]
    issued += [p.number for p in people]
    evidence += [repr(p) for p in people]
    for i, person in enumerate(people):
        linkage.register_local_id(LG_A, f"A-{i}", person.person_key)
    linkage.register_local_id(LG_B, "B-0", people[0].person_key)
    conversions = [linkage.convert(LG_A, f"A-{i}", LG_B) for i in range(5)]
    evidence += [repr(c) for c in conversions]
    linkage.rotate(LG_B)
    evidence += [linkage.convert(LG_A, "A-0", LG_B).fugo]
    issued.append(identity.change_number(people[1].person_key))

    card = card_issuer.issue(people[0].person_key, people[0].number, "1234")
    evidence.append(repr(card))
    challenge = authenticator.challenge()
    signature = reader.sign_challenge(card, "1234", challenge.nonce)
    authenticator.verify_login(challenge.nonce, card.certificate, signature)
    authenticator.verify_presented_number(card, people[0].number)

    # Errors, each fed a number where one could be echoed.
    attempt(lambda: identity.person_for_number(people[1].number))  # retired by 番号変更
    attempt(lambda: identity.person_for_number(people[2].number[:11] + "x"))
    attempt(lambda: authenticator.verify_presented_number(card, people[3].number))
    attempt(lambda: authenticator.verify_login(challenge.nonce, card.certificate, signature))
    attempt(lambda: reader.sign_challenge(card, "0000", challenge.nonce))
    attempt(lambda: linkage.convert(LG_A, people[2].number, LG_B))
    attempt(lambda: linkage.register_organisation(people[2].number))
    clock.advance(timedelta(days=1))

    runner = CliRunner()
    for number in issued:
        for text in (number, number[:-1] + str((int(number[-1]) + 1) % 10), number + "0"):
            result = runner.invoke(identity_app, ["check", text])
            evidence.append(result.output)

    with connection_source(storage)(False) as connection:
        for table in (*LINKAGE_TABLES, identity_number):
            for row in connection.execute(select(table)):
                evidence.append(repr(tuple(row)))

    evidence += [record.getMessage() for record in caplog.records]
    assert len(evidence) > 40
    assert caplog.records
    corpus = "\n".join(evidence)
    assert not {finding.number for finding in find_individual_numbers(corpus)} & set(issued)
    leaked = [i for i, number in enumerate(issued) if number in corpus or number[:11] in corpus]
    assert leaked == [], f"issued numbers #{leaked} leaked"
