"""The Japanese spec browser renders every unit, the matrix grid and every information kind."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from renkei.spec.models import Spec


def test_index_lists_every_unit(client: TestClient, spec: Spec) -> None:
    page = client.get("/spec")
    assert page.status_code == 200
    assert 'lang="ja"' in page.text
    for unit in spec.units:
        assert f'href="/spec/units/{unit.number}">{unit.name}<' in page.text


def test_matrix_grid_marks_exactly_the_connected_pairs(client: TestClient, spec: Spec) -> None:
    page = client.get("/spec/matrix").text
    cells = re.findall(r'<td class="on"', page)
    pairs = {(t.sender, t.receiver) for t in spec.triples()}
    assert len(cells) == len(pairs)
    assert "seed-inferred" in page


def test_every_information_page_renders(client: TestClient, spec: Spec) -> None:
    for kind in spec.information:
        page = client.get(f"/spec/information/{kind.id}")
        assert page.status_code == 200, kind.id
        for item in kind.items:
            assert item.name in page.text


def test_unit_page_shows_what_it_sends_and_receives(client: TestClient) -> None:
    page = client.get("/spec/units/6").text
    assert "個人住民税" in page and "生活保護情報" in page and "個人住民税情報" in page


def test_unknown_page_never_reflects_input_as_html(client: TestClient) -> None:
    res = client.get("/spec/information/<script>")
    assert res.status_code == 404
    assert res.headers["content-type"] == "application/problem+json"


def test_templates_autoescape(client: TestClient) -> None:
    env = client.app.state.templates  # type: ignore[attr-defined]
    assert "&lt;b&gt;" in env.from_string("{{ x }}").render(x="<b>")


def test_docs_are_served_without_a_cdn(client: TestClient) -> None:
    page = client.get("/docs").text
    assert "/_static/docs/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower()
    assert client.get("/_static/docs/swagger-ui-bundle.js").status_code == 200
