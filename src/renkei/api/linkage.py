"""The linkage base's HTTP edge for other deployments' hubs (情報連携基盤, ``docs/federation.md``).

``POST /federation/linkage/fugo`` ``{"org", "resident_code"}`` → ``{"org", "fugo"}``;
``POST /federation/linkage/fugo:batch`` ``{"org", "resident_codes": [≤ 1000]}`` → ``{"org", "fugo": [符号 |
null]}`` (null: no person with that code); ``POST /federation/linkage/convert`` ``{"from_org", "fugo",
"to_org"}`` → ``{"org": to_org, "fugo"}``. Only a trusted peer hub over mutual TLS (``peer_of``) is served:
anyone else gets 403 ``identity.linkage.forbidden``; a deployment that is not the base answers 409
``identity.linkage.not_base``. The work is :class:`~renkei.identity.federated.FederatedLinkage`
(``app.state.federated_linkage``); errors are problem+json through ``api/errors.py``'s generic mapping.

Routes are plain ``def``: FastAPI runs them in its thread pool, so the database work never blocks the loop.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from renkei.identity.federated import BATCH_LIMIT, FederatedLinkage
from renkei.tenancy.asgi import peer_of

router = APIRouter(prefix="/federation/linkage", tags=["federation"])

OrgText = Annotated[str, Field(min_length=1, max_length=64)]
CodeText = Annotated[str, Field(min_length=1, max_length=32)]


class AcquireRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    org: OrgText
    resident_code: CodeText


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    org: OrgText
    resident_codes: Annotated[list[CodeText], Field(min_length=1, max_length=BATCH_LIMIT)]


class ConvertRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    from_org: OrgText
    fugo: Annotated[str, Field(min_length=1, max_length=64)]
    to_org: OrgText


def federated_linkage(request: Request) -> FederatedLinkage:
    """The deployment's linkage-base service for peers."""
    service = request.app.state.federated_linkage
    assert isinstance(service, FederatedLinkage)
    return service


@router.post("/fugo")
def acquire(body: AcquireRequest, request: Request) -> dict[str, Any]:
    """The 符号 of an organisation the calling peer hosts, for the resident with this 住民票コード."""
    fugo = federated_linkage(request).acquire(peer_of(request), body.org, body.resident_code)
    return {"org": body.org, "fugo": fugo}


@router.post("/fugo:batch")
def acquire_batch(body: BatchRequest, request: Request) -> dict[str, Any]:
    """Up to 1,000 acquisitions at once: per code, in order, the 符号 or null."""
    issued = federated_linkage(request).acquire_many(peer_of(request), body.org, body.resident_codes)
    return {"org": body.org, "fugo": issued}


@router.post("/convert")
def convert(body: ConvertRequest, request: Request) -> dict[str, Any]:
    """A 符号 of an organisation the calling peer hosts → the same person's 符号 at ``to_org``."""
    fugo = federated_linkage(request).convert(peer_of(request), body.from_org, body.fugo, body.to_org)
    return {"org": body.to_org, "fugo": fugo}
