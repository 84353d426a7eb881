"""The packaged spec: exactly the seed's units and matrix, and a loader that refuses broken files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from tests.factories import copy_spec_data

from renkei.spec.errors import SpecLoadError
from renkei.spec.loader import load_spec
from renkei.spec.models import ServiceKind, Spec, UnitStatus

SEED_UNITS = {
    1: "住民基本台帳",
    2: "印鑑登録",
    3: "外国人登録",
    4: "選挙人名簿管理",
    5: "固定資産税",
    6: "個人住民税",
    7: "法人住民税",
    8: "軽自動車税",
    9: "収滞納管理",
    10: "国民健康保険",
    11: "国民年金",
    12: "障害者福祉",
    13: "後期高齢者医療",
    14: "介護保険",
    15: "児童手当",
    16: "生活保護",
    17: "乳幼児医療",
    18: "ひとり親医療",
    19: "健康管理",
    20: "就学",
    21: "戸籍",
    22: "子ども手当",
    30: "住登外管理",
    50: "財務会計",
    51: "庶務事務",
    52: "人事給与",
    53: "文書管理",
}


def r(lo: int, hi: int, *, but: tuple[int, ...] = ()) -> set[int]:
    return {n for n in SEED_UNITS if lo <= n <= hi and n not in but}


# The matrix transcribed independently of the YAML (shared/docs/seed-linkage-matrix.md):
# row → (information names, senders, receivers).
MATRIX: dict[int, tuple[tuple[str, ...], set[int], set[int]]] = {
    1: (("住基情報",), {1}, r(5, 22, but=(7,))),
    2: (("外国人情報",), {3}, r(5, 22, but=(7,))),
    3: (("住登外情報",), {30}, r(5, 22, but=(7, 11, 21))),
    4: (("法人情報",), {30}, {5, 6, 7, 8, 9}),
    5: (("各業務の資格関連情報",), {10, 13, 14, 15, 22}, {1}),
    6: (("国民年金情報",), {11}, {1}),
    7: (("各業務にて発生した住登外情報",), r(5, 20, but=(11,)), {30}),
    8: (("法人情報",), r(5, 9), {30}),
    9: (("滞納者有無情報",), {9}, {1}),
    10: (("印鑑登録情報",), {2}, {1}),
    11: (("戸籍届出情報",), {21}, {1}),
    12: (("各賦課情報",), {5, 6, 7, 8, 10}, {9}),
    13: (("各送付先情報",), {5, 6, 7, 8, 10}, {9}),
    14: (("収滞納情報",), {9}, {5, 6, 8, 10}),
    15: (("口座情報",), {9}, {5, 6, 8, 10}),
    16: (("生活保護情報",), {16}, {6}),
    17: (("個人住民税情報",), {6}, {16}),
    18: (("固定資産税情報",), {5}, {16}),
    19: (("軽自動車車両情報",), {8}, {16}),
    20: (("国民健康保険情報",), {10}, {16}),
    21: (("生活保護情報",), {16}, {12, 14, 17, 18, 20}),
    22: (("介護保険資格情報", "介護保険料賦課情報"), {14}, {16}),
    23: (("障害者福祉情報",), {12}, {16}),
    24: (("国民年金情報",), {11}, {16}),
    25: (("各手当情報",), {15, 22}, {16}),
    26: (("各医療情報",), {17, 18}, {16}),
    27: (("戸籍情報",), {21}, {16}),
    28: (("個人住民税情報",), {6}, {11, 12, 13, 14, 15, 17, 18, 20}),
    29: (("国民健康保険情報",), {10}, {11, 14, 15, 17, 18, 19}),
    30: (("特別徴収依頼情報",), {10}, {14}),
    31: (("地番情報",), {5}, {21}),
    32: (("後期高齢者被保険者情報",), {13}, {10}),
    33: (("介護保険資格情報",), {14}, {10}),
    34: (("障害者福祉情報",), {12}, {10}),
    35: (("特別徴収依頼情報",), {13, 14}, {6}),
    36: (("支払情報",), {10, 12, 14, 15, 16, 20, 22}, {50}),
    37: (("調定情報",), {5, 6, 7, 8, 10, 13, 14}, {50}),
    38: (("収納／還付／不納欠損情報",), {9, 13, 14}, {50}),
    39: (("収納金情報",), {50}, {9}),
    40: (("給与所得者異動届出書",), {52}, {6}),
    41: (("支払情報", "予算管理情報"), {51}, {50}),
    42: (("職員情報",), {52}, {51}),
    43: (("各種情報",), {53}, {50, 51, 52}),
}


def test_exactly_the_seeds_27_units(spec: Spec) -> None:
    assert {u.number: u.name for u in spec.units} == SEED_UNITS
    assert all(u.name_en for u in spec.units)
    alien = spec.unit(3)
    assert alien.status is UnitStatus.SUPERSEDED
    assert alien.superseded_by == 1
    assert [u.number for u in spec.units if u.status is UnitStatus.SUPERSEDED] == [3]


def test_every_row_of_the_matrix_with_provenance(spec: Spec) -> None:
    flows = {f.row: f for f in spec.flows}
    assert sorted(flows) == list(range(1, 44))
    for row, (names, senders, receivers) in MATRIX.items():
        flow = flows[row]
        assert tuple(spec.kind(i).name for i in flow.information) == names, row
        assert set(flow.senders) == senders, row
        assert set(flow.receivers) == receivers, row
        assert flow.provenance == ("seed-inferred" if row >= 41 else "seed"), row


def test_every_triple_is_allowed_and_nothing_else(spec: Spec) -> None:
    expected = {
        (name, s, t)
        for names, senders, receivers in MATRIX.values()
        for name in names
        for s in senders
        for t in receivers
    }
    actual = {(spec.kind(t.information).name, t.sender, t.receiver) for t in spec.triples()}
    assert actual == expected


def test_labels_sit_on_rows_of_their_sender_and_information(spec: Spec) -> None:
    assert sorted(lab.label for lab in spec.labels) == list("abcdefghij")
    by_label = {lab.label: lab for lab in spec.labels}
    for flow in spec.flows:
        for label in flow.labels:
            lab = by_label[label]
            assert lab.sender in flow.senders, (flow.row, label)
            assert set(lab.information) & set(flow.information), (flow.row, label)
    labelled = {label for f in spec.flows for label in f.labels}
    assert labelled == set("abcdefghij")


def test_every_information_kind_has_items_and_a_service(spec: Spec) -> None:
    used = {i for f in spec.flows for i in f.information}
    assert used == {k.id for k in spec.information}
    for kind in spec.information:
        assert len(kind.items) >= 5, kind.id
        assert kind.services, kind.id


def test_the_resident_record_carries_the_standard_items(spec: Spec) -> None:
    names = {i.name for i in spec.kind("住基情報").items}
    for required in (
        "宛名番号",
        "世帯番号",
        "氏名",
        "生年月日",
        "性別",
        "続柄",
        "住所",
        "郵便番号",
        "異動事由",
        "異動日",
        "届出日",
        "本籍",
        "筆頭者",
        "住民種別",
        "住民状態",
        "個人番号",
        "住民票コード",
    ):
        assert any(required in n for n in names), required


def test_no_service_answers_with_an_individual_number(spec: Spec) -> None:
    for kind, service in spec.services():
        for item_id in service.response:
            item = kind.item(item_id)
            assert "個人番号" not in item.name, (service.id, item_id)
        if service.kind is ServiceKind.QUERY and kind.personal:
            assert "person_fugo" in service.request or "corporate_number" in service.request, service.id


def test_coded_items_name_an_existing_dictionary(spec: Spec) -> None:
    ids = {d.id for d in spec.codes}
    for kind in spec.information:
        for item in kind.items:
            if item.code:
                assert item.code in ids
    for required in ("sex", "era"):
        assert required in ids


def _edit(data: Path, name: str, change: object) -> None:
    path = data / name
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(doc)  # type: ignore[operator]
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")


@pytest.mark.parametrize(
    ("file", "change", "message"),
    [
        ("units.yaml", lambda d: d["units"][5].pop("name_en"), "units[5].name_en: Field required"),
        ("units.yaml", lambda d: d["units"][0].update(number="one"), "units[0].number"),
        ("units.yaml", lambda d: d["units"][2].update(superseded_by=99), "superseded_by: unit 99"),
        ("codes.yaml", lambda d: d["dictionaries"][0].update(codes=[]), "dictionaries[0].codes"),
        ("flows.yaml", lambda d: d["rows"][0].update(to=[99]), "unit 99 does not exist"),
        (
            "flows.yaml",
            lambda d: d["rows"][3].update(information=["no-such-kind"]),
            "rows[row=4].information",
        ),
        ("flows.yaml", lambda d: d["rows"][0].update(provenance="guess"), "rows[0].provenance"),
        ("spec.yaml", lambda d: d.update(version="one"), "version"),
    ],
)
def test_a_file_that_breaks_the_meta_schema_refuses_to_load(
    tmp_path: Path, file: str, change: object, message: str
) -> None:
    data = copy_spec_data(tmp_path)
    _edit(data, file, change)
    with pytest.raises(SpecLoadError) as err:
        load_spec(data)
    assert err.value.code == "spec.load.invalid"
    assert str(err.value).startswith(f"spec.load.invalid: {file}: ")
    assert message in str(err.value)


def test_an_item_with_an_unknown_dictionary_is_named(tmp_path: Path) -> None:
    data = copy_spec_data(tmp_path)

    def change(doc: dict[str, list[dict[str, object]]]) -> None:
        coded = next(i for i in doc["items"] if i.get("code"))
        coded["code"] = "no-such-dictionary"

    _edit(data, "information/individual-resident-tax.yaml", change)
    with pytest.raises(SpecLoadError, match=r"information/individual-resident-tax.yaml: items\[\d+\].code"):
        load_spec(data)


def test_optional_request_items_must_be_request_items(tmp_path: Path) -> None:
    data = copy_spec_data(tmp_path)

    def change(doc: dict[str, list[dict[str, object]]]) -> None:
        query = next(s for s in doc["services"] if s["kind"] == "query")
        query["optional"] = ["no_such_item"]

    _edit(data, "information/individual-resident-tax.yaml", change)
    with pytest.raises(SpecLoadError, match=r"optional items \['no_such_item'\] are not request items"):
        load_spec(data)


def test_as_of_is_optional_where_it_is_asked(spec: Spec) -> None:
    asked = [s for _, s in spec.services() if "as_of" in s.request]
    assert asked
    for service in asked:
        assert "as_of" not in service.required_request
        assert "person_fugo" in service.required_request or "corporate_number" in service.required_request


def test_not_yaml_at_all(tmp_path: Path) -> None:
    data = copy_spec_data(tmp_path)
    (data / "units.yaml").write_text("units: [1, 2\n", encoding="utf-8")
    with pytest.raises(SpecLoadError, match=r"units\.yaml: not valid YAML"):
        load_spec(data)


def test_digest_changes_with_content(tmp_path: Path, spec: Spec) -> None:
    data = copy_spec_data(tmp_path)
    _edit(data, "units.yaml", lambda d: d["units"][0].update(name_en="Resident Register"))
    assert load_spec(data).digest != spec.digest
    assert load_spec().digest == spec.digest
