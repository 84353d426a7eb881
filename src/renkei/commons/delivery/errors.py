"""Errors of the Commons' storage, intake and delivery use cases (codes ``commons.<noun>.<problem>``)."""

from __future__ import annotations

from renkei.commons.errors import CommonsError
from renkei.errors import InvalidInput, NotFound


class AlertDuplicate(CommonsError):
    """A document with this identifier (or this revision of the chain) was accepted already."""

    code = "commons.alert.duplicate"
    http_status = 409


class AlertNotFound(CommonsError, NotFound):
    code = "commons.alert.not_found"
    http_status = 404


class AlertRejected(CommonsError):
    """The document is not a valid alert; ``detail['errors']`` lists every problem found."""

    code = "commons.alert.invalid"
    http_status = 422


class SubscriberInvalid(CommonsError, InvalidInput):
    code = "commons.subscriber.invalid"
    http_status = 422


class SubscriberNotFound(CommonsError, NotFound):
    code = "commons.subscriber.not_found"
    http_status = 404


class DeliveryNotFound(CommonsError, NotFound):
    code = "commons.delivery.not_found"
    http_status = 404
