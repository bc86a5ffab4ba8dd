"""The web interface: server-rendered pages in French, Dutch and English."""

from coffre.web.app import create_app

__all__ = ["create_app"]
