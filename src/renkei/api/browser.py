"""The spec browser (標準仕様ブラウザ): Japanese HTML pages of the units, the matrix and the items."""

from __future__ import annotations

from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from renkei.api.deps import Platform, platform
from renkei.spec.catalogue import matrix_grid, service_records

router = APIRouter(include_in_schema=False)
Dep = Annotated[Platform, Depends(platform)]


def templates() -> Environment:
    """A Jinja2 environment over the packaged templates, autoescaping everything."""
    path = resources.files("renkei.api").joinpath("templates")
    return Environment(loader=FileSystemLoader(str(path)), autoescape=select_autoescape(default=True))


def _render(request: Request, name: str, **context: object) -> HTMLResponse:
    env: Environment = request.app.state.templates
    return HTMLResponse(env.get_template(name).render(**context))


@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse("/spec")


@router.get("/spec")
def index(request: Request, p: Dep) -> HTMLResponse:
    spec = p.spec
    return _render(request, "index.html", spec=spec, kinds=spec.information, triples=len(spec.triples()))


@router.get("/spec/matrix")
def matrix(request: Request, p: Dep) -> HTMLResponse:
    spec = p.spec
    grid = matrix_grid(spec)
    units = sorted(spec.units, key=lambda u: u.number)
    senders = [u for u in units if any(s == u.number for s, _ in grid)]
    receivers = [u for u in units if any(r == u.number for _, r in grid)]
    rows_info = {f.row: [spec.kind(i).name for i in f.information] for f in spec.flows}
    return _render(
        request,
        "matrix.html",
        spec=spec,
        grid=grid,
        senders=senders,
        receivers=receivers,
        rows_info=rows_info,
    )


@router.get("/spec/units/{number}")
def unit(request: Request, p: Dep, number: int) -> HTMLResponse:
    spec = p.spec
    u = spec.unit(number)
    sends = [t for t in spec.triples() if t.sender == u.number]
    receives = [t for t in spec.triples() if t.receiver == u.number]
    return _render(request, "unit.html", spec=spec, unit=u, sends=sends, receives=receives)


@router.get("/spec/information/{information}")
def information(request: Request, p: Dep, information: str) -> HTMLResponse:
    spec = p.spec
    kind = spec.kind(information)
    triples = [t for t in spec.triples() if t.information == kind.id]
    return _render(request, "information.html", spec=spec, kind=kind, triples=triples)


@router.get("/spec/services")
def services(request: Request, p: Dep) -> HTMLResponse:
    return _render(request, "services.html", spec=p.spec, services=service_records(p.spec))


@router.get("/spec/codes")
def codes(request: Request, p: Dep) -> HTMLResponse:
    return _render(request, "codes.html", spec=p.spec)
