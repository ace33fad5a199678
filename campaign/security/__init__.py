"""Privacy, upload hardening and peak shaving for the campaign platform.

Framework-light building blocks the intake API and the workers call:

- `envelope`: authenticated encryption at rest (AES-GCM data keys wrapped by rotating master keys).
- `uploads`: turns an untrusted upload into a clean, metadata-free JPEG or a specific refusal.
- `ratelimit`: per-device and per-IP token buckets in Redis/Valkey, with a documented fallback.
- `admission`: accept while the estimated wait keeps the campaign's promise, else `Retry-After`.
- `urls`: signed, expiring result URLs (Django-signed for local files, presigned for S3).
- `retention`: deletes originals once used and everything else after the retention period.
"""
