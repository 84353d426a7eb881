"""Parse untrusted XML (CAP, EDXL-DE) safely and in bounded time.

The Commons accepts files from every municipality's authoring tool, so the parser assumes hostility:

1. the byte size is bounded (:attr:`XmlLimits.max_bytes`, 5 MiB) before anything else;
2. the bytes are decoded in Python with the declared encoding (BOM, then the XML declaration, else UTF-8).
   Shift_JIS and its aliases are read as CP932 (its superset, which Windows tools actually write), through
   :func:`renkei.japanese.charset.decode_cp932`;
3. any ``<!DOCTYPE`` or ``<!ENTITY`` is refused outright before lxml sees the text, so entity expansion
   (billion laughs) and external entities (XXE) can never start;
4. lxml parses with ``resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False``;
5. the element depth is bounded (:attr:`XmlLimits.max_depth`, 64); libxml2's own limit (256 without
   ``huge_tree``) stops pathological nesting while parsing.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import Final

from lxml import etree

from renkei.commons.errors import XmlRefused
from renkei.japanese.charset import decode_cp932
from renkei.japanese.errors import InvalidEncoding

MIB: Final = 1024 * 1024

_DECLARATION = re.compile(
    rb"""^\s*<\?xml\s[^>]*?encoding\s*=\s*["'](?P<encoding>[A-Za-z][A-Za-z0-9._\-]*)["']"""
)
_DECLARATION_ENCODING = re.compile(r"""^(\s*<\?xml\s[^>]*?encoding\s*=\s*)(["'])[A-Za-z0-9._\-]+\2""")
_FORBIDDEN = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_CP932_ALIASES: Final = frozenset(
    {"shift_jis", "shift-jis", "sjis", "x-sjis", "cp932", "ms932", "windows-31j", "ms_kanji", "csshiftjis"}
)
_UTF16_32_BOMS: Final = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


@dataclass(frozen=True, slots=True)
class XmlLimits:
    """Bounds for one untrusted document."""

    max_bytes: int = 5 * MIB
    max_depth: int = 64


def _refuse(reason: str, message: str, **detail: object) -> XmlRefused:
    return XmlRefused(message, reason=reason, **detail)


def decode_xml(data: bytes) -> str:
    """Decode XML bytes by BOM, then the declared encoding, else UTF-8; raise :class:`XmlRefused`."""
    if data.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    else:
        encoding = next((name for bom, name in _UTF16_32_BOMS if data.startswith(bom)), "")
    if not encoding:
        match = _DECLARATION.match(data[:512])
        encoding = match.group("encoding").decode("ascii").lower() if match else "utf-8"
    if encoding in _CP932_ALIASES:
        try:
            return decode_cp932(data)
        except InvalidEncoding as error:
            raise _refuse("encoding", f"not valid {encoding}: {error.message}", encoding=encoding) from None
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise _refuse("encoding", f"unknown encoding {encoding!r}", encoding=encoding) from None
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        raise _refuse(
            "encoding",
            f"not valid {encoding} at byte offset {error.start}: {error.reason}",
            encoding=encoding,
            offset=error.start,
        ) from None


def _depth_exceeds(root: etree._Element, limit: int) -> bool:
    stack: list[tuple[etree._Element, int]] = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in element)
    return False


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )


def parse_untrusted(data: bytes, limits: XmlLimits | None = None) -> etree._Element:
    """Parse untrusted XML bytes into an lxml element, or raise :class:`XmlRefused` saying why.

    ``detail["reason"]`` is one of ``too_large``, ``encoding``, ``doctype``, ``not_well_formed``,
    ``too_deep``.
    """
    limits = limits or XmlLimits()
    if len(data) > limits.max_bytes:
        raise _refuse(
            "too_large",
            f"XML document of {len(data)} bytes exceeds the limit of {limits.max_bytes} bytes",
            size=len(data),
            limit=limits.max_bytes,
        )
    text = decode_xml(data)
    forbidden = _FORBIDDEN.search(text)
    if forbidden is not None:
        raise _refuse(
            "doctype",
            f"DOCTYPE and ENTITY declarations are not accepted (found {forbidden.group(0)!r})",
            offset=forbidden.start(),
        )
    # The text is now Unicode: tell lxml so by rewriting the declared encoding to UTF-8.
    utf8 = _DECLARATION_ENCODING.sub(r"\1\2UTF-8\2", text.lstrip("\ufeff"), count=1).encode("utf-8")
    try:
        root = etree.fromstring(utf8, parser=_parser())
    except etree.XMLSyntaxError as error:
        raise _refuse("not_well_formed", f"XML is not well formed: {error}", line=error.lineno) from None
    if root is None:
        raise _refuse("not_well_formed", "XML document is empty")
    if _depth_exceeds(root, limits.max_depth):
        raise _refuse(
            "too_deep", f"XML nesting exceeds the limit of {limits.max_depth} levels", limit=limits.max_depth
        )
    return root
