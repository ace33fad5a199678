"""Settings for bench/intake.py: the default setup, with the limits a load generator on one address needs.

Everything else (SQLite in WAL mode with synchronous=NORMAL unless `--sqlite-synchronous`, embedded Valkey broker, local files, encryption, sanitising,
admission control, rate limiting) is exactly the default configuration the platform runs with.
"""

from __future__ import annotations

from campaign.settings import *  # noqa: F403

# Every bench client connects from 127.0.0.1: the per-IP bucket would otherwise (rightly) stop it.
# The per-device bucket still runs (one Valkey round trip per request, as in production).
RATELIMIT_IP = (10**9, 10.0**9)
RATELIMIT_DEVICE = (10**9, 10.0**9)
# Bench cookies are not server-signed, so its requests are anonymous; and one address is the whole
# load generator, so it may hold the whole queue (campaign.intake.fairshare).
RATELIMIT_ANONYMOUS = (10**9, 10.0**9)
ADMISSION_SHARE_IP = 1.0
