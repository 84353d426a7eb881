"""Typed errors of the ``demo`` context."""

from __future__ import annotations

from renkei.errors import InvalidInput, NotFound, RenkeiError


class DemoError(RenkeiError):
    code = "demo.error"


class PopulationInvalid(DemoError, InvalidInput):
    """A population cannot be generated with these parameters."""

    code = "demo.population.invalid"


class PopulationConflict(DemoError):
    """The deployment already holds another demo population (another seed, size or municipality)."""

    code = "demo.population.conflict"
    http_status = 409


class ManifestInvalid(DemoError):
    """The demo manifest in the data directory cannot be read."""

    code = "demo.manifest.invalid"


class RequestInvalid(DemoError, InvalidInput):
    """A simulated member system got a request it cannot read."""

    code = "demo.request.invalid"


class RecordUnknown(DemoError, NotFound):
    """No record for this person (unknown 符号, not a resident, or no record of that kind)."""

    code = "demo.record.unknown"


class ServiceUnknown(DemoError, NotFound):
    """The simulated member system does not answer this service."""

    code = "demo.service.unknown"


class FederationFailed(DemoError):
    """Setting up or checking the two-deployment demo failed; ``detail.step`` names the step."""

    code = "demo.federation.failed"
    http_status = 500


class ViewerRefused(DemoError):
    """A simulated member system's received events or queries were asked for without that member system's
    own signature (``X-Renkei-Signature``): they hold personal data, so only the member itself reads them."""

    code = "demo.viewer.refused"
    http_status = 401
