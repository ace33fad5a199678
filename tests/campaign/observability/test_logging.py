"""The JSON log format (job id in, tokens and signatures out) and the request id on every response."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from django.test import Client


def test_json_log_lines_carry_the_job_id_and_never_a_token_or_signature() -> None:
    from campaign.observability.logging import ContextFilter, JsonFormatter, log_context

    record = logging.LogRecord(
        "workers.actors",
        logging.INFO,
        __file__,
        1,
        "fetched %s",
        ("/media/jobs/x/poster-1.jpg?e=1767225600&s=0a1b2c3d4e5f token=abcDEF123 Bearer eyJhbGciOi",),
        None,
    )
    with log_context(job_id="3f0c", stage="posters"):
        ContextFilter().filter(record)
        line = JsonFormatter().format(record)

    payload = json.loads(line)
    assert payload["job_id"] == "3f0c" and payload["stage"] == "posters"
    assert payload["message"] == (
        "fetched /media/jobs/x/poster-1.jpg?e=1767225600&s=[redacted] token=[redacted] Bearer [redacted]"
    )


@pytest.mark.parametrize("header", ["", "req-from-lb-42"])
def test_every_response_carries_a_request_id(db: Any, header: str) -> None:
    response = Client().get("/livez", HTTP_X_REQUEST_ID=header) if header else Client().get("/livez")

    assert response["X-Request-ID"] == (header or response["X-Request-ID"])
    assert len(response["X-Request-ID"]) >= 10
