"""Who the client is and what it may open, and the hardening settings of the platform.

- `proxies`: the client's address and scheme behind the proxies we trust (``TRUSTED_PROXIES``) only.
- `websocket`: websocket handshakes from this site's origin only; unrouted paths refused cleanly.
- `settings`: the environment settings of intake, privacy, retention and production hardening
  (master keys, HTTPS, Content-Security-Policy, admin login lockout), star-imported by
  `campaign.settings`.

Upload checks, rate limits and admission live in `campaign.intake`, encryption at rest in
`campaign.privacy`, retention and S3 storage among the services.
"""
