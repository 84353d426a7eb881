"""Atom feeds of alerts, following OASIS's CAP feed practice.

* one entry per CAP message: an Update or Cancel is a **new** entry, old entries are never edited
  (:meth:`AtomFeed.append` returns a new feed and refuses an id that is already there);
* "fat" feeds embed the CAP ``<alert>`` in ``<content type="application/cap+xml">`` and carry the
  description as ``summary``; "thin" feeds only link it with ``<link rel="alternate"
  type="application/cap+xml">``; both carry the link when a URL is known, and a ``text/html`` alternate
  when the entry has a page URL;
* entry ``id`` = ``urn:renkei:commons:cap:<sender>:<identifier>`` (percent-encoded), ``updated`` = ``sent``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal
from urllib.parse import quote

from lxml import etree

from renkei.commons.cap import alert_to_element
from renkei.commons.errors import ChainConflict
from renkei.commons.lifecycle import status_label
from renkei.commons.model import Alert
from renkei.commons.render.text import primary_info

ATOM: Final = "http://www.w3.org/2005/Atom"
_A: Final = "{" + ATOM + "}"
CAP_MEDIA_TYPE: Final = "application/cap+xml"


def entry_id(alert: Alert) -> str:
    """The Atom id of the entry for one CAP message."""
    return f"urn:renkei:commons:cap:{quote(alert.sender, safe='@.-_')}:{quote(alert.identifier, safe='.-_')}"


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One feed entry: the CAP message and where its CAP document can be fetched."""

    alert: Alert
    cap_url: str | None = None
    page_url: str | None = None

    @property
    def id(self) -> str:
        return entry_id(self.alert)

    @property
    def updated(self) -> datetime:
        return self.alert.sent


def _rfc3339(moment: datetime) -> str:
    text = moment.isoformat(timespec="seconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _sub(parent: etree._Element, name: str, text: str | None = None, **attributes: str) -> etree._Element:
    element = etree.SubElement(parent, _A + name, attrib=attributes)
    element.text = text
    return element


@dataclass(frozen=True, slots=True)
class AtomFeed:
    """An append-only Atom feed of CAP messages (newest first when written)."""

    feed_id: str
    title: str
    self_url: str | None = None
    entries: tuple[FeedEntry, ...] = field(default=())

    def append(self, alert: Alert, cap_url: str | None = None, page_url: str | None = None) -> AtomFeed:
        """A feed with one more entry; raises :class:`ChainConflict` if the message already has one."""
        entry = FeedEntry(alert, cap_url, page_url)
        if any(e.id == entry.id for e in self.entries):
            raise ChainConflict(
                f"feed already has an entry {entry.id}; entries are never edited", id=entry.id
            )
        return AtomFeed(self.feed_id, self.title, self.self_url, (*self.entries, entry))

    def _entry(self, parent: etree._Element, entry: FeedEntry, style: Literal["fat", "thin"]) -> None:
        alert = entry.alert
        info = primary_info(alert)
        element = _sub(parent, "entry")
        _sub(element, "id", entry.id)
        headline = (info.headline or info.event) if info else (alert.note or alert.identifier)
        _sub(element, "title", f"{status_label(alert)}{headline}")
        _sub(element, "updated", _rfc3339(alert.sent))
        author = _sub(element, "author")
        _sub(author, "name", info.sender_name if info and info.sender_name else alert.sender)
        if style == "fat" and info and info.description:
            _sub(element, "summary", info.description)
        if entry.cap_url is not None:
            _sub(element, "link", rel="alternate", type=CAP_MEDIA_TYPE, href=entry.cap_url)
        if entry.page_url is not None:
            _sub(element, "link", rel="alternate", type="text/html", href=entry.page_url)
        if style == "fat":
            content = _sub(element, "content", type=CAP_MEDIA_TYPE)
            content.append(alert_to_element(alert))

    def to_xml(self, style: Literal["fat", "thin"] = "fat") -> bytes:
        """The feed document; ``thin`` entries carry only the link to each CAP message."""
        root = etree.Element(_A + "feed", nsmap={None: ATOM})  # type: ignore[dict-item]  # lxml-stubs
        _sub(root, "id", self.feed_id)
        _sub(root, "title", self.title)
        updated = max((e.updated for e in self.entries), default=None)
        _sub(root, "updated", _rfc3339(updated) if updated else "1970-01-01T00:00:00Z")
        if self.self_url is not None:
            _sub(root, "link", rel="self", href=self.self_url)
        for entry in sorted(self.entries, key=lambda e: e.updated, reverse=True):
            self._entry(root, entry, style)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)

    def entry_xml(self, entry_id_: str, style: Literal["fat", "thin"] = "fat") -> bytes:
        """One entry as it appears in the feed (to show that later appends never change it)."""
        holder = etree.Element(_A + "feed", nsmap={None: ATOM})  # type: ignore[dict-item]  # lxml-stubs
        for entry in self.entries:
            if entry.id == entry_id_:
                self._entry(holder, entry, style)
        return b"".join(etree.tostring(child, encoding="UTF-8") for child in holder)
