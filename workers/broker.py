"""The broker the actors declare on: `campaign.broker` (kept here for worker command lines and tests)."""

from campaign.broker import DjangoConnections, broker, broker_from_url

__all__ = ["DjangoConnections", "broker", "broker_from_url"]
