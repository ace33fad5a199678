"""The H5 page's view (`campaign.views.home`) when there is nothing to show."""

from __future__ import annotations

import pytest
from django.test import Client

from campaign.models import Campaign


@pytest.mark.django_db
def test_home_without_a_campaign_says_none_is_running() -> None:
    assert not Campaign.objects.exists()

    response = Client().get("/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "<title>Protagonist</title>" in html
    assert 'data-i18n="closed">活动暂未开放，请稍后再来。</p>' in html
    assert 'data-en="Protagonist"' in html
    assert 'id="consent"' not in html  # no upload form without a campaign
