"""Structured JSON logs that carry job ids and never photos, tokens or signed URLs.

Each record becomes one JSON object per line (what log shippers such as Loki, Fluent Bit or Cloud
Logging parse without configuration). `log_context(job_id=...)` binds ids for everything logged inside
it (stages in workers, requests in web), so one grep for a job id shows its whole life across
processes. Redaction is a last line of defence, applied to the final text: the code never logs secrets
on purpose, but an exception message quoting a URL must not leak a token or a signature either.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeAlias, TypedDict, cast

if TYPE_CHECKING:  # the logging config loads this module while Django sets up: stdlib imports only
    from django.http import HttpRequest
    from django.http.response import HttpResponseBase

    GetResponse: TypeAlias = Callable[[HttpRequest], HttpResponseBase]
    AsyncGetResponse: TypeAlias = Callable[[HttpRequest], Awaitable[HttpResponseBase]]

_context: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("log_context", default={})  # noqa: B039

# token=..., ?s=<signature>, X-Amz-Signature=..., Authorization: Bearer ..., raw token JSON fields.
_SECRETS = re.compile(
    r"(?P<key>\b(?:token|access_token|s|sig|signature|X-Amz-Signature|X-Amz-Credential|"
    r"X-Amz-Security-Token|Signature|password|secret)=)[^&\s\"']+"
    r"|(?P<auth>\b(?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]+"
    r"|(?P<json>\"(?:token|password|secret)\"\s*:\s*\")[^\"]*",
    re.IGNORECASE,
)
# Binary payloads (a photo's bytes repr) never belong in a log line.
_BYTES_REPR = re.compile(r"b['\"](?:\\x[0-9a-f]{2}|[^'\"]){64,}['\"]")


def redact(text: str) -> str:
    """Replace secret values in `text` with `[redacted]` (keeps the key so the line stays readable)."""

    def replace(match: re.Match[str]) -> str:
        prefix = match.group("key") or match.group("auth") or match.group("json") or ""
        return f"{prefix}[redacted]"

    return _BYTES_REPR.sub("b'[binary]'", _SECRETS.sub(replace, text))


@contextmanager
def log_context(**values: object) -> Iterator[None]:
    """Bind ids (job_id, stage, request_id) to every record logged inside, in this thread/task."""
    token = _context.set({**_context.get(), **{k: str(v) for k, v in values.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Copy the bound ids onto each record so that any formatter can use them."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, bound ids, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "process": record.process,
        }
        payload.update(_context.get())
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key not in payload:
                payload[key] = value if isinstance(value, int | float | bool) else redact(str(value))
        if record.exc_info:
            payload["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(payload, ensure_ascii=False, default=str)


class PlainFormatter(logging.Formatter):
    """Human-readable lines for a terminal, with the same redaction and the bound job id."""

    def format(self, record: logging.LogRecord) -> str:
        ids = " ".join(f"{k}={v}" for k, v in _context.get().items())
        text = super().format(record)
        return redact(f"{text} [{ids}]" if ids else text)


def logging_config(*, fmt: str, level: str) -> dict[str, Any]:
    """The LOGGING dict for settings: `fmt` is "json" (production) or "plain" (a terminal)."""
    formatter = (
        {"()": "campaign.observability.logging.JsonFormatter"}
        if fmt == "json"
        else {
            "()": "campaign.observability.logging.PlainFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        }
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "campaign.observability.logging.ContextFilter"}},
        "formatters": {"main": formatter},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "main", "filters": ["context"]}
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"django.request": {"level": "ERROR"}, "dramatiq": {"level": "INFO"}},
    }


class _RequestIds(TypedDict):
    request_id: str
    job_id: str | None


class RequestContextMiddleware:
    """Bind a request id (from the load balancer's X-Request-ID, else a fresh one) and the job id in
    the path to every log line a request produces; echo the request id back for support tickets.

    Sync and async capable, so it never forces an ASGI request through a thread hop of its own.
    """

    sync_capable = True
    async_capable = True
    _job_in_path = re.compile(r"/(?:api/jobs|ws/jobs|media/jobs)/([0-9a-f-]{36})")

    def __init__(self, get_response: GetResponse | AsyncGetResponse) -> None:
        from asgiref.sync import iscoroutinefunction, markcoroutinefunction

        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def _ids(self, request: HttpRequest) -> _RequestIds:
        import uuid

        match = self._job_in_path.search(request.path)
        return {
            "request_id": request.headers.get("X-Request-ID", "")[:64] or uuid.uuid4().hex,
            "job_id": match.group(1) if match else None,
        }

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.is_async:
            return self._acall(request)
        ids = self._ids(request)
        with log_context(**ids):
            response = cast("GetResponse", self.get_response)(request)  # not is_async: a sync chain
        response["X-Request-ID"] = ids["request_id"]
        return response

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        ids = self._ids(request)
        with log_context(**ids):
            response = await cast("AsyncGetResponse", self.get_response)(request)
        response["X-Request-ID"] = ids["request_id"]
        return response
