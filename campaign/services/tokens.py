"""Job access tokens: random, shown to the visitor once, stored only as a SHA-256 digest."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def token_new() -> tuple[str, str]:
    """Return (token, digest). 256 random bits; the digest is what the database keeps."""
    token = secrets.token_urlsafe(32)
    return token, token_digest(token)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_matches(*, token: str, digest: str) -> bool:
    """Constant-time comparison, so response timing does not leak how much of a token was right."""
    return hmac.compare_digest(token_digest(token), digest)
