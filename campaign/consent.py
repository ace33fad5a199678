"""Consent and age gate at intake: enforced here, on the server, whatever the page did.

A face photo is sensitive personal information (PIPL art. 28): processing it needs a separate,
explicit consent that states purpose, retention and deletion; visitors under 14 need a guardian's
consent (art. 31). The page shows an unticked checkbox and an age confirmation; this module is what
makes them binding: a request without them is refused with a stable code the page maps to a tip.
"""

from __future__ import annotations

from dataclasses import dataclass

from campaign.errors import CampaignError
from campaign.models import AgeConfirmation, AgePolicy, Campaign


class ConsentMissing(CampaignError):
    """The visitor did not give the consent or the age confirmation the campaign requires."""

    code = "consent_required"
    status = 400


@dataclass(frozen=True)
class ConsentRecord:
    """What the visitor agreed to, stored on the Job."""

    consent_version: str
    age_confirmation: str


def consent_check(
    *, campaign: Campaign, consent: bool, age_confirmation: str, consent_version: str = ""
) -> ConsentRecord:
    """Refuse intake unless consent and the campaign's age gate are satisfied; return what to record.

    `consent_version` is what the page showed; an outdated page (the text changed since it loaded) is
    refused so that nobody is recorded as agreeing to a text they never saw. Empty = the current one
    (API clients that render the campaign's text themselves).
    """
    if not consent:
        raise ConsentMissing(
            "Please tick the consent box: we need your permission to process your face photo "
            f"(used only for this campaign's posters and film, deleted after {campaign.retention_days} days "
            "or when you delete it).",
            code="consent_required",
        )
    if consent_version and consent_version != campaign.consent_version:
        raise ConsentMissing(
            "The consent text has changed since this page was loaded. Please reload the page and read it again.",
            code="consent_outdated",
        )
    if age_confirmation not in AgeConfirmation.values:
        guardian = (
            " or that your guardian agreed" if campaign.age_policy == AgePolicy.MIN_AGE_OR_GUARDIAN else ""
        )
        raise ConsentMissing(
            f"Please confirm that you are at least {campaign.min_age} years old{guardian} "
            "(age_confirmation: self or guardian).",
            code="age_confirmation_required",
        )
    if age_confirmation == AgeConfirmation.GUARDIAN and campaign.age_policy == AgePolicy.MIN_AGE_ONLY:
        raise ConsentMissing(
            f"This campaign is open to visitors aged {campaign.min_age} and over only.",
            code="age_restricted",
        )
    return ConsentRecord(consent_version=campaign.consent_version, age_confirmation=age_confirmation)
