"""Every API error as `{"code": ..., "detail": ...}`: a stable code for the page, a message for people."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from campaign.errors import CampaignError, ServiceBusy


def _first_message(detail: object) -> str:
    """The first message of a ValidationError's detail (nested dicts and lists); anything else as str."""
    if isinstance(detail, dict):
        for field, value in detail.items():
            message = _first_message(value)
            return message if field == "non_field_errors" else f"{field}: {message}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, CampaignError):
        refusal = Response({"code": exc.code, "detail": exc.detail}, status=exc.status)
        if isinstance(exc, ServiceBusy):
            refusal["Retry-After"] = str(exc.retry_after_s)
            refusal.data["retry_after"] = exc.retry_after_s
        return refusal
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        code = "invalid"
        if isinstance(exc.detail, dict):
            field = next(iter(exc.detail), None)
            codes = exc.get_codes()
            # looked up by iteration: djangorestframework-stubs 3.18.2 types the codes as a dict keyed by
            # str or by int, and neither .get overload takes the detail's key
            field_codes = (
                next((v for k, v in codes.items() if k == field), None)
                if field is not None and isinstance(codes, dict)
                else None
            )
            if field and field_codes:
                first = field_codes[0] if isinstance(field_codes, list) else field_codes
                code = f"{field}_{first}" if field != "non_field_errors" else str(first)
        response.data = {"code": code, "detail": _first_message(exc.detail)}
        response.status_code = status.HTTP_400_BAD_REQUEST
    else:
        detail = getattr(exc, "detail", str(exc))
        error_code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        response.data = {"code": str(error_code), "detail": str(detail)}
    return response


# ----------------------------------------------------------- Django's error views (campaign.urls)
# Errors raised outside a DRF view (no route, a malformed multipart body Django refuses, an unexpected
# exception) answer JSON under /api/, as the API promises, and Django's own pages elsewhere.

API_PREFIX = "/api/"
_PLAIN = {
    400: ("bad_request", "The request could not be read."),
    403: ("forbidden", "You may not do this."),
    404: ("not_found", "There is nothing here."),
    500: ("internal_error", "Something went wrong on our side. Please try again in a few minutes."),
}


def _api_error(status_code: int) -> JsonResponse:
    code, detail = _PLAIN[status_code]
    return JsonResponse({"code": code, "detail": detail}, status=status_code)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return _api_error(400)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return _api_error(403)
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return _api_error(404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return _api_error(500)
    return defaults.server_error(request)
