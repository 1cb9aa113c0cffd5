"""The clinician web view (NHS.UK frontend): ``web_app()`` is mounted by the main app at ``/web``."""

from gpbridge.web.app import web_app

__all__ = ["web_app"]
