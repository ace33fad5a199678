"""Domain errors of the platform: each carries a stable `code`, a human `detail` and an HTTP status.

The API turns them into `{"code": ..., "detail": ...}`; actors turn bad-input errors into failed jobs.
"""

from __future__ import annotations


class CampaignError(Exception):
    code = "error"
    status = 400

    def __init__(self, detail: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status


class PhotoInvalid(CampaignError):
    """The upload is not a photo we can use (too large, not an image, corrupt, animated)."""

    status = 400


class NoCampaign(CampaignError):
    code = "campaign_closed"
    status = 404


class VariantUnavailable(CampaignError):
    code = "variant_unavailable"
    status = 409


class ServiceBusy(CampaignError):
    """Admission control: the promised wait cannot be kept right now; the client retries later."""

    code = "busy"
    status = 503

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class JobNotFound(CampaignError):
    """Unknown id or a token that does not match: the same answer, so ids cannot be probed."""

    code = "not_found"
    status = 404


class JobGone(CampaignError):
    code = "deleted"
    status = 410


class TokenMissing(CampaignError):
    code = "token_required"
    status = 401


class IllegalTransition(Exception):
    """A programming error: the state machine has no such edge (e.g. done -> analyzing)."""


class TransitionConflict(Exception):
    """The row was not in the expected state: another worker or the visitor moved it first."""

    def __init__(self, job_id: object, expected: str, actual: str) -> None:
        super().__init__(f"job {job_id}: expected state {expected!r}, found {actual!r}")
        self.expected = expected
        self.actual = actual
