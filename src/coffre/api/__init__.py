"""The FHIR R4 API under /fhir: every call authenticated, decided by `access` through the
records services, journaled, and answered in the standard's own shapes."""

from coffre.api.openapi import describe
from coffre.api.routes import router

__all__ = ["describe", "router"]
