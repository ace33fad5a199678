"""Job tokens: only the exact token matches its digest."""

from __future__ import annotations

from campaign.services.tokens import token_matches, token_new


def test_token_comparison_accepts_only_the_exact_token() -> None:
    token, digest = token_new()
    assert token_matches(token=token, digest=digest)
    assert not token_matches(token=token[:-1], digest=digest)
    assert not token_matches(token="", digest=digest)
