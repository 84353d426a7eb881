"""Where the synthetic residents live: towns (町・字) of the municipality with their 丁目 and postal codes,
and where people moved in from.

千代田区 (131016) and 中央区 (131024) have real town names and postal codes (日本郵便); any other municipality
gets generic town names and synthetic postal codes, so that a population can be generated for every code of
the municipality table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from renkei.japanese import Municipality


@dataclass(frozen=True, slots=True)
class Town:
    """町・字: its name, postal code, number of 丁目 (0 when it has none) and share of the residents."""

    name: str
    postal_code: str
    chome: int
    weight: float


TOWNS: Final[dict[str, tuple[Town, ...]]] = {
    "131016": (
        Town("神田駿河台", "1010062", 4, 2.0), Town("神田神保町", "1010051", 3, 2.0),
        Town("神田小川町", "1010052", 3, 1.0), Town("神田錦町", "1010054", 3, 1.0),
        Town("岩本町", "1010032", 3, 3.0), Town("東神田", "1010031", 3, 3.0),
        Town("外神田", "1010021", 6, 2.0), Town("猿楽町", "1010064", 2, 2.0),
        Town("西神田", "1010065", 3, 2.0), Town("三崎町", "1010061", 3, 2.0),
        Town("一番町", "1020082", 0, 3.0), Town("二番町", "1020084", 0, 3.0),
        Town("三番町", "1020075", 0, 3.0), Town("四番町", "1020081", 0, 3.0),
        Town("五番町", "1020076", 0, 2.0), Town("六番町", "1020085", 0, 3.0),
        Town("麹町", "1020083", 6, 5.0), Town("九段北", "1020073", 4, 4.0),
        Town("九段南", "1020074", 4, 3.0), Town("富士見", "1020071", 2, 4.0),
        Town("飯田橋", "1020072", 4, 4.0), Town("平河町", "1020093", 2, 2.0),
        Town("紀尾井町", "1020094", 0, 1.0), Town("隼町", "1020092", 0, 1.0),
        Town("丸の内", "1000005", 3, 0.2),
    ),
    "131024": (
        Town("日本橋", "1030027", 3, 2.0), Town("日本橋人形町", "1030013", 3, 3.0),
        Town("日本橋蛎殻町", "1030014", 2, 2.0), Town("日本橋浜町", "1030007", 3, 4.0),
        Town("日本橋久松町", "1030005", 0, 1.0), Town("月島", "1040052", 4, 5.0),
        Town("勝どき", "1040054", 6, 8.0), Town("晴海", "1040053", 5, 7.0),
        Town("佃", "1040051", 3, 4.0), Town("新川", "1040033", 2, 3.0),
        Town("八丁堀", "1040032", 4, 3.0), Town("湊", "1040043", 3, 2.0),
        Town("明石町", "1040044", 0, 2.0), Town("築地", "1040045", 7, 3.0),
        Town("銀座", "1040061", 8, 1.0), Town("京橋", "1040031", 3, 1.0),
        Town("新富", "1040041", 2, 2.0), Town("入船", "1040042", 3, 2.0),
    ),
}  # fmt: skip

_GENERIC_TOWNS: Final[tuple[str, ...]] = (
    "本町", "栄町", "幸町", "旭町", "緑町", "中央", "東町", "西町", "南町", "北町", "新町", "宮前",
)  # fmt: skip

BUILDINGS: Final[tuple[str, ...]] = (
    "レジデンス", "ハイツ", "コート", "タワー", "パークハウス", "ヒルズ", "テラス", "メゾン",
)  # fmt: skip
"""Suffixes of apartment building names (方書): ``<town>第2レジデンス 804号``."""

APARTMENT_SHARE: Final = 0.85
"""Share of households living in an apartment (with a 方書); central Tokyo is mostly flats."""

PREVIOUS_ADDRESSES: Final[tuple[str, ...]] = (
    "東京都新宿区西新宿二丁目8番1号", "東京都文京区本郷七丁目3番1号", "東京都港区芝公園四丁目2番8号",
    "東京都世田谷区世田谷四丁目21番27号", "東京都杉並区阿佐谷南一丁目15番1号",
    "東京都江東区東陽四丁目11番28号",
    "神奈川県横浜市中区日本大通1番地", "神奈川県川崎市川崎区宮本町1番地",
    "埼玉県さいたま市浦和区常盤六丁目4番4号",
    "千葉県千葉市中央区千葉港1番1号", "大阪府大阪市北区中之島一丁目3番20号",
    "愛知県名古屋市中区三の丸三丁目1番1号",
    "北海道札幌市中央区北一条西二丁目1番地", "福岡県福岡市中央区天神一丁目8番1号",
    "宮城県仙台市青葉区国分町三丁目7番1号",
    "静岡県静岡市葵区追手町5番1号",
)  # fmt: skip
"""Where people moved in from (転入前住所): addresses of public offices, so no private address is used."""

DOMICILES: Final[tuple[str, ...]] = (
    "東京都千代田区千代田1番", "東京都中央区日本橋一丁目1番", "神奈川県横浜市中区日本大通1番地",
    "大阪府大阪市北区中之島一丁目3番", "北海道札幌市中央区北一条西二丁目1番地",
    "福岡県福岡市中央区天神一丁目8番",
    "広島県広島市中区国泰寺町一丁目6番", "新潟県新潟市中央区学校町通一番町602番地",
    "長野県長野市大字鶴賀緑町1613番地",
    "鹿児島県鹿児島市山下町11番",
)  # fmt: skip
"""本籍 of Japanese residents."""

_KANJI_DIGITS: Final = "〇一二三四五六七八九"


def kanji_number(n: int) -> str:
    """一, 二 … 十, 十一 … 九十九: how 丁目 is written on a 住民票."""
    if not 1 <= n <= 99:
        raise ValueError(f"{n} is outside 1-99")
    tens, ones = divmod(n, 10)
    text = "" if tens == 0 else ("十" if tens == 1 else _KANJI_DIGITS[tens] + "十")
    return text + ("" if ones == 0 else _KANJI_DIGITS[ones])


def towns_of(municipality: Municipality) -> tuple[Town, ...]:
    """The towns of ``municipality``: real ones for 千代田区 and 中央区, generic ones elsewhere."""
    known = TOWNS.get(municipality.code)
    if known is not None:
        return known
    prefix = f"{municipality.code[:3]}0"  # 3-digit postal region stand-in: synthetic, never a real code
    return tuple(
        Town(name, f"{prefix}{index:03d}", 3, 1.0) for index, name in enumerate(_GENERIC_TOWNS, start=1)
    )
