"""The integrated DB's read API (統合DB参照) for the tenant's own member systems.

``GET /masterdata/{tenant}/persons/{atena_number}?valid_at=&known_at=``, ``…/persons/{atena_number}/history``
and ``GET /masterdata/{tenant}/households/{household_number}?valid_at=&known_at=``, each signed like a hub
request (``X-Renkei-Signature`` over ``GET``, the target as sent and an empty body). The work
(authentication, the tenant and unit rules, access records) is
:class:`~renkei.masterdata.access.MasterDataReader` (``app.state.masterdata``); this module only reads the
request and shapes the JSON. Errors are problem+json (``masterdata.*`` codes, ``api/errors.py``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from renkei.masterdata.access import Answer, MasterDataReader, SignedRead
from renkei.masterdata.models import Version
from renkei.registry.auth import SIGNATURE_HEADER, request_target

router = APIRouter(prefix="/masterdata", tags=["masterdata"])


def masterdata_reader(request: Request) -> MasterDataReader:
    """The deployment's read side of the integrated DB."""
    reader = request.app.state.masterdata
    assert isinstance(reader, MasterDataReader)
    return reader


def _signed(request: Request) -> SignedRead:
    return SignedRead(
        token=request.headers.get(SIGNATURE_HEADER),
        target=request_target(request.scope["raw_path"], request.scope["query_string"]),
        purpose=request.headers.get("x-road-issue"),
        message_id=request.headers.get("x-road-id"),
    )


def version_json(version: Version) -> dict[str, Any]:
    """One bitemporal version as the API shows it."""
    assertion = version.assertion
    return {
        "atena_number": version.atena_number,
        "resident_class": version.resident_class.value,
        "household_number": version.household_number,
        "active": assertion.active,
        "valid_from": version.valid_from.isoformat(),
        "valid_to": None if version.valid_to is None else version.valid_to.isoformat(),
        "recorded_from": version.recorded_from.isoformat(),
        "recorded_to": None if version.recorded_to is None else version.recorded_to.isoformat(),
        "superseded_by": version.superseded_by,
        "event": {
            "id": assertion.event_id,
            "topic": assertion.topic,
            "type": assertion.event_type,
            "occurred_at": assertion.occurred.isoformat(),
            "recorded_at": assertion.recorded_at.isoformat(),
        },
        "items": dict(version.items),
    }


def _times(answer: Answer) -> dict[str, Any]:
    return {
        "tenant": answer.tenant,
        "valid_at": None if answer.valid_at is None else answer.valid_at.isoformat(),
        "known_at": None if answer.known_at is None else answer.known_at.isoformat(),
    }


@router.get("/{tenant}/persons/{atena_number}", summary="A person as of a day, as known at an instant")
def person(
    request: Request, tenant: str, atena_number: str, valid_at: str | None = None, known_at: str | None = None
) -> JSONResponse:
    answer = masterdata_reader(request).person(
        _signed(request), tenant, atena_number, valid_at=valid_at, known_at=known_at
    )
    return JSONResponse({**_times(answer), "person": version_json(answer.versions[0])})


@router.get("/{tenant}/persons/{atena_number}/history", summary="Every version of a person ever recorded")
def history(request: Request, tenant: str, atena_number: str) -> JSONResponse:
    answer = masterdata_reader(request).history(_signed(request), tenant, atena_number)
    return JSONResponse(
        {
            "tenant": answer.tenant,
            "atena_number": answer.versions[0].atena_number,
            "versions": [version_json(v) for v in answer.versions],
        }
    )


@router.get("/{tenant}/households/{household_number}", summary="The members of a household as of a day")
def household(
    request: Request,
    tenant: str,
    household_number: str,
    valid_at: str | None = None,
    known_at: str | None = None,
) -> JSONResponse:
    answer = masterdata_reader(request).household(
        _signed(request), tenant, household_number, valid_at=valid_at, known_at=known_at
    )
    return JSONResponse(
        {
            **_times(answer),
            "household_number": household_number,
            "members": [version_json(v) for v in answer.versions],
        }
    )
