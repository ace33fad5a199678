"""Job intake: what a visitor's upload passes before a job exists, cheapest check first.

- `asgi`: the ASGI fast path: floods (429) and oversize bodies (413) refused before Django reads the body.
- `guard`: the same checks inside the view when no ASGI layer made them, and the capped upload handler.
- `device`: the signed device id (cookie) that the per-device limits and shares key on.
- `ratelimit`: per-device and per-address token buckets in Redis/Valkey, with a documented fallback.
- `uploads`: turns an untrusted upload into a clean, metadata-free JPEG or a specific refusal.
- `admission`: accept while the estimated wait keeps the campaign's promise, else `Retry-After`.
- `fairshare`: one client's share of the queue within that promise.
- `memo`: the per-process, one-second memo of intake's lookups (running campaign, ready variants).

Intake imports models and errors, never services: `campaign.services.jobs` calls it.
"""
