"""Typed errors of change notifications, in the exchange's X-Road fault families.

The query flow's errors (``exchange.request.*``, ``exchange.client.*``, ``exchange.person.unknown``) are
reused where they mean the same thing; these are the ones notifications add.
"""

from __future__ import annotations

from renkei.exchange.errors import AccessDenied, BadRequest, ExchangeError


class TopicUnknown(ExchangeError):
    """The path names no notification topic of the spec (or a query service)."""

    code = "exchange.topic.unknown"
    http_status = 404
    xroad_code = "Client.ServiceNotFound"


class EventInvalid(BadRequest):
    """An event (or the batch) does not match the topic: type, items, person reference, size."""

    code = "exchange.event.invalid"


class EventConflict(ExchangeError):
    """The publisher's event id was accepted before with another content."""

    code = "exchange.event.conflict"
    http_status = 409
    xroad_code = "Client.IdempotencyConflict"


class SubscriptionInvalid(BadRequest):
    """A subscription names no usable delivery: bad mode, webhook URL or source."""

    code = "exchange.subscription.invalid"


class SubscriptionUnknown(ExchangeError):
    """No subscription of this member to this topic."""

    code = "exchange.subscription.unknown"
    http_status = 404
    xroad_code = "Client.ServiceNotFound"


class CursorInvalid(BadRequest):
    """A feed cursor that this hub did not hand out."""

    code = "exchange.feed.cursor_invalid"


class NothingToReplay(ExchangeError):
    """A replay named no dead letter."""

    code = "exchange.replay.nothing"
    http_status = 404
    xroad_code = "Client.NotFound"


class FeedForbidden(AccessDenied):
    """A feed read (差分, 全件, the CSV export) naming a publisher outside what the reader's subscription
    takes: its ``source``, or without one the reader's own organisation. Another municipality's events are
    never read on the matrix's say-so alone (``docs/tenancy.md``)."""

    code = "exchange.feed.forbidden"


class SourceForbidden(AccessDenied):
    """A member system asked for a subscription of its own whose ``source`` lies outside its organisation:
    a cross-organisation subscription is the deployment operator's decision, not the member's."""

    code = "exchange.subscription.source_forbidden"
