"""The shipped municipality table and the 全国地方公共団体コード helpers."""

from __future__ import annotations

import dataclasses
from importlib import resources

import pytest
from hypothesis import given
from hypothesis import strategies as st

from renkei.errors import NotFound
from renkei.japanese import (
    CheckDigitMismatch,
    MalformedNumber,
    Municipality,
    MunicipalityDataInvalid,
    MunicipalityTable,
    UnknownMunicipality,
    complete_local_government_code,
    is_katakana,
    is_valid_local_government_code,
    prefecture_code,
)

# The 47 prefecture codes as published (総務省 / J-LIS lists), typed in independently of the data file.
PUBLISHED_PREFECTURE_CODES = {
    "010006": "北海道", "020001": "青森県", "030007": "岩手県", "040002": "宮城県", "050008": "秋田県",
    "060003": "山形県", "070009": "福島県", "080004": "茨城県", "090000": "栃木県", "100005": "群馬県",
    "110001": "埼玉県", "120006": "千葉県", "130001": "東京都", "140007": "神奈川県", "150002": "新潟県",
    "160008": "富山県", "170003": "石川県", "180009": "福井県", "190004": "山梨県", "200000": "長野県",
    "210005": "岐阜県", "220001": "静岡県", "230006": "愛知県", "240001": "三重県", "250007": "滋賀県",
    "260002": "京都府", "270008": "大阪府", "280003": "兵庫県", "290009": "奈良県", "300004": "和歌山県",
    "310000": "鳥取県", "320005": "島根県", "330001": "岡山県", "340006": "広島県", "350001": "山口県",
    "360007": "徳島県", "370002": "香川県", "380008": "愛媛県", "390003": "高知県", "400009": "福岡県",
    "410004": "佐賀県", "420000": "長崎県", "430005": "熊本県", "440001": "大分県", "450006": "宮崎県",
    "460001": "鹿児島県", "470007": "沖縄県",
}  # fmt: skip

CAPITALS = {
    "011002": "札幌市", "022012": "青森市", "032018": "盛岡市", "041009": "仙台市", "052019": "秋田市",
    "062014": "山形市", "072010": "福島市", "082015": "水戸市", "092011": "宇都宮市", "102016": "前橋市",
    "111007": "さいたま市", "121002": "千葉市", "131041": "新宿区", "141003": "横浜市", "151009": "新潟市",
    "162019": "富山市", "172014": "金沢市", "182010": "福井市", "192015": "甲府市", "202011": "長野市",
    "212016": "岐阜市", "221007": "静岡市", "231002": "名古屋市", "242012": "津市", "252018": "大津市",
    "261009": "京都市", "271004": "大阪市", "281000": "神戸市", "292010": "奈良市", "302015": "和歌山市",
    "312011": "鳥取市", "322016": "松江市", "331007": "岡山市", "341002": "広島市", "352039": "山口市",
    "362018": "徳島市", "372013": "高松市", "382019": "松山市", "392014": "高知市", "401307": "福岡市",
    "412015": "佐賀市", "422011": "長崎市", "431001": "熊本市", "442011": "大分市", "452017": "宮崎市",
    "462012": "鹿児島市", "472018": "那覇市",
}  # fmt: skip

TOKYO_WARDS = [
    "千代田区",
    "中央区",
    "港区",
    "新宿区",
    "文京区",
    "台東区",
    "墨田区",
    "江東区",
    "品川区",
    "目黒区",
    "大田区",
    "世田谷区",
    "渋谷区",
    "中野区",
    "杉並区",
    "豊島区",
    "北区",
    "荒川区",
    "板橋区",
    "練馬区",
    "足立区",
    "葛飾区",
    "江戸川区",
]


@pytest.fixture(scope="module")
def table() -> MunicipalityTable:
    return MunicipalityTable.load()


def test_every_code_has_a_valid_check_digit(table: MunicipalityTable) -> None:
    assert len(table) == len(table.all()) > 0
    for entry in table.all():
        assert is_valid_local_government_code(entry.code), entry
        assert complete_local_government_code(entry.code[:5]) == entry.code


def test_prefectures_match_the_published_codes(table: MunicipalityTable) -> None:
    prefectures = {m.code: m.name for m in table.all() if m.kind == "prefecture"}
    assert prefectures == PUBLISHED_PREFECTURE_CODES
    for code in PUBLISHED_PREFECTURE_CODES:
        assert is_valid_local_government_code(code)


def test_each_prefecture_has_its_capital(table: MunicipalityTable) -> None:
    for code, name in CAPITALS.items():
        entry = table.get(code)
        assert entry.name == name
        assert table.prefecture_of(code).code[:2] == code[:2]
    assert {code[:2] for code in CAPITALS} == {code[:2] for code in PUBLISHED_PREFECTURE_CODES}


def test_all_23_special_wards_of_tokyo(table: MunicipalityTable) -> None:
    wards = [m for m in table.all() if m.kind == "special_ward"]
    assert [m.name for m in wards] == TOKYO_WARDS
    assert [m.code[:5] for m in wards] == [f"131{n:02d}" for n in range(1, 24)]
    assert wards[0].code == "131016"
    assert wards[-1].code == "131237"
    assert all(m.prefecture == "東京都" for m in wards)


@pytest.mark.parametrize(
    ("code", "name", "kind"),
    [
        ("131016", "千代田区", "special_ward"),
        ("131024", "中央区", "special_ward"),
        ("141003", "横浜市", "designated_city"),
        ("271004", "大阪市", "designated_city"),
        ("011002", "札幌市", "designated_city"),
        ("022012", "青森市", "city"),
        ("472018", "那覇市", "city"),
        ("133612", "大島町", "town"),
        ("133621", "利島村", "village"),
    ],
)
def test_demo_municipalities(table: MunicipalityTable, code: str, name: str, kind: str) -> None:
    entry = table.get(code)
    assert (entry.name, entry.kind) == (name, kind)


def test_entries_are_consistent(table: MunicipalityTable) -> None:
    entries = table.all()
    assert [m.code for m in entries] == sorted(m.code for m in entries)
    for entry in entries:
        assert is_katakana(entry.name_kana), entry
        assert entry.prefecture == table.prefecture_of(entry.code).name
        assert (entry.kind == "prefecture") == (entry.code[2:5] == "000")
        assert entry.code in table


def test_unknown_but_valid_code(table: MunicipalityTable) -> None:
    with pytest.raises(UnknownMunicipality) as caught:
        table.get("012025")  # 函館市: real, but not in the shipped subset
    error = caught.value
    assert error.code == "japanese.municipality.unknown"
    assert error.http_status == 404
    assert isinstance(error, NotFound)
    assert error.detail["code"] == "012025"
    assert table.prefecture_of("012025").name == "北海道"


def test_get_refuses_malformed_codes(table: MunicipalityTable) -> None:
    with pytest.raises(MalformedNumber):
        table.get("13101")
    with pytest.raises(CheckDigitMismatch):
        table.get("131017")
    with pytest.raises(MalformedNumber):
        table.get("１３１０１６")


def test_prefecture_code() -> None:
    assert prefecture_code("271004") == "27"
    assert prefecture_code("010006") == "01"
    with pytest.raises(CheckDigitMismatch):
        prefecture_code("271005")
    with pytest.raises(MalformedNumber) as caught:
        prefecture_code(complete_local_government_code("99000"))
    assert caught.value.detail["reason"] == "prefecture"
    with pytest.raises(MalformedNumber):
        prefecture_code(complete_local_government_code("00100"))


@given(st.integers(min_value=1, max_value=47), st.integers(min_value=0, max_value=999))
def test_prefecture_of_any_valid_code(prefecture: int, rest: int) -> None:
    table = MunicipalityTable.load()
    code = complete_local_government_code(f"{prefecture:02d}{rest:03d}")
    assert prefecture_code(code) == f"{prefecture:02d}"
    entry = table.prefecture_of(code)
    assert entry.kind == "prefecture"
    assert entry.code == complete_local_government_code(f"{prefecture:02d}000")


def test_municipality_is_frozen(table: MunicipalityTable) -> None:
    entry = table.get("131016")
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.name = "x"  # type: ignore[misc]


def test_data_file_is_plain_utf8_with_the_documented_header() -> None:
    raw = resources.files("renkei.japanese").joinpath("data", "municipalities.csv").read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    assert raw.decode("utf-8").splitlines()[0] == "code,prefecture,name,name_kana,kind"


def _entry(code: str, name: str = "テスト市", kana: str = "テストシ", kind: str = "city") -> Municipality:
    return Municipality(code, "東京都", name, kana, kind)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("entries", "problem"),
    [
        ([_entry("131016"), _entry("131016")], "duplicate code"),
        ([_entry("131017")], "check digit"),
        ([_entry("131016", kana="てすと")], "katakana"),
        ([_entry("131016", kind="hamlet")], "unknown kind"),
        ([_entry("130001")], "PP000C"),
        ([_entry(complete_local_government_code("48201"))], "prefecture number"),
    ],
)
def test_from_entries_refuses_bad_data(entries: list[Municipality], problem: str) -> None:
    with pytest.raises(MunicipalityDataInvalid, match=problem) as caught:
        MunicipalityTable.from_entries(entries)
    assert caught.value.http_status == 500
