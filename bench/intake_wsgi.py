"""The same Django project as a WSGI app, for `bench/intake.py --interface wsgi` (one thread hop per
request instead of one per sync middleware under ASGI); websockets still need the ASGI app."""

from __future__ import annotations

from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()
