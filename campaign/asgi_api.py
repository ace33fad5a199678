"""The JSON API under ASGI with one thread hop per request instead of one per sync middleware.

Why: Django's ASGI handler runs each sync-only middleware (sessions, CSRF, locale, auth, messages,
...) through its own ``sync_to_async`` hop, and the view through another: 19 hops per ``POST
/api/jobs``, ~2.6 ms of its CPU, and a fresh executor thread per request (``ThreadSensitiveContext``).
The API is sync code end to end (DRF, the ORM, Pillow), so this handler reads the body on the event
loop, then runs the *same* middleware chain (``settings.MIDDLEWARE``, loaded in sync mode as under
WSGI), URL resolution and DRF view in one call on a fixed pool of threads, and sends the response.

Nothing about the request's meaning changes: same middleware, same views, same exception handling,
same signals (``request_started``/``request_finished``). Only the scheduling differs, and one thing
follows from it: the pool's threads live for the process, so each keeps its database connection
between requests (``API_CONN_MAX_AGE``, default 60 s; bounded: one per pool thread per process),
where Django's ASGI handler must open and close one per request because every request gets a new
thread. That matters most for SQLite in WAL mode: closing the last connection checkpoints and
truncates the WAL, ~9 ms per request when each request closes its own. Connections that saw an
error or fail the health check are still closed at the end of the request (Django's own rule); a
database with a connection pool (PostgreSQL ``OPTIONS={"pool": ...}``) keeps Django's behaviour of
returning the connection to the pool after each request.

Used for ``/api/`` only (`campaign.asgi`): API responses are small JSON bodies, never streamed; pages,
admin, media and static files keep Django's own ASGI handler.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import IO, TYPE_CHECKING, Any, cast

from asgiref.sync import sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.db.backends.signals import connection_created
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.urls import set_script_prefix

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

Scope = dict[str, Any]  # as Django's ASGIHandler types them
Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


API_THREAD_PREFIX = "api-onehop"
_pool_threads = threading.local()


def _keep_connection(
    sender: type[BaseDatabaseWrapper], connection: BaseDatabaseWrapper, **kwargs: object
) -> None:
    """`connection_created`: a connection opened by a pool thread lives `API_CONN_MAX_AGE` seconds."""
    if not getattr(_pool_threads, "active", False) or connection.settings_dict.get("OPTIONS", {}).get("pool"):
        return
    from django.conf import settings

    max_age = settings.API_CONN_MAX_AGE
    connection.close_at = None if max_age is None else time.monotonic() + float(max_age)


def _mark_pool_thread() -> None:
    _pool_threads.active = True


class OneHopASGIHandler(ASGIHandler):
    """Django's ASGI handler with the sync middleware chain run in a single executor call."""

    def __init__(self, *, threads: int = 8) -> None:
        BaseHandler.__init__(self)
        self.load_middleware(is_async=False)  # the WSGI chain: no per-middleware adapters
        self.threads = threads
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()
        connection_created.connect(_keep_connection, dispatch_uid="campaign.asgi_api.keep_connection")

    def executor(self) -> ThreadPoolExecutor:
        # Created lazily: uvicorn forks its workers after importing the app, and threads do not survive a fork.
        if self._executor is None:
            with self._executor_lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(
                        self.threads, thread_name_prefix=API_THREAD_PREFIX, initializer=_mark_pool_thread
                    )
        return self._executor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise ValueError(f"OneHopASGIHandler serves HTTP only, not {scope['type']}")
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        import asyncio

        loop = asyncio.get_running_loop()
        response = await loop.run_in_executor(self.executor(), self._respond, scope, body_file)
        try:
            await self.send_response(response, send)
        finally:
            if response.streaming:  # never on /api/, but keep Django's contract if a view streams
                await sync_to_async(response.close, thread_sensitive=False)()
            body_file.close()

    def _respond(self, scope: Scope, body_file: IO[bytes]) -> HttpResponseBase:
        """Everything Django does for one request, in this one thread (the WSGI handler's sequence)."""
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            assert error_response is not None  # create_request returns one of the two
            error_response.close()
            return error_response
        response = self.get_response(request)
        response._handler_class = self.__class__  # type: ignore[attr-defined]  # as Django's handlers do
        if not response.streaming:
            # render here, in the worker thread, not on the event loop
            cast(HttpResponse, response).content  # noqa: B018
            response.close()  # request_finished: connections closed/returned as Django's settings say
        return response


class ApiRouter:
    """Sends ``/api/`` HTTP requests to `api`, everything else to `default`."""

    def __init__(self, default: App, api: App, *, prefix: str = "/api/") -> None:
        self.default = default
        self.api = api
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope.get("path", "")).startswith(self.prefix):
            await self.api(scope, receive, send)
        else:
            await self.default(scope, receive, send)
