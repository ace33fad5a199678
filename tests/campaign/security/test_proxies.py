"""The client address is the right-most `X-Forwarded-For` hop that is not one of our proxies."""

from __future__ import annotations

import pytest

from campaign.security.proxies import client_address, trusted_networks_parse

PROXIES = trusted_networks_parse(["10.0.0.0/8", "2001:db8::/32"])


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "client"),
    [
        ("203.0.113.7", "6.6.6.6", "203.0.113.7"),  # peer is no proxy of ours: XFF is the client's lie
        ("10.1.2.3", "198.51.100.9", "198.51.100.9"),
        ("10.1.2.3", "6.6.6.6, 198.51.100.9", "198.51.100.9"),  # left part written by the client
        ("10.1.2.3", "6.6.6.6, 198.51.100.9, 10.9.9.9", "198.51.100.9"),  # two proxies of ours
        ("10.1.2.3", "10.7.7.7, 10.9.9.9", "10.7.7.7"),  # only our proxies: the left-most one
        ("10.1.2.3", "", "10.1.2.3"),
        ("10.1.2.3", "6.6.6.6, not-an-ip", "10.1.2.3"),  # garbage where our proxy writes: stop there
        ("10.1.2.3", "2001:db8::5, 2001:db9::1", "2001:db9::1"),
        ("10.1.2.3", "[2001:db9::2]:4711", "2001:db9::2"),
        ("10.1.2.3", "198.51.100.9:5555", "198.51.100.9"),
    ],
)
def test_client_is_the_right_most_address_that_is_not_a_trusted_proxy(
    peer: str, forwarded_for: str, client: str
) -> None:
    assert client_address(peer, forwarded_for, PROXIES) == client


def test_no_trusted_proxies_means_forwarded_for_is_ignored() -> None:
    assert client_address("127.0.0.1", "6.6.6.6", ()) == "127.0.0.1"


def test_a_typo_in_trusted_proxies_is_refused() -> None:
    with pytest.raises(ValueError, match=r"'10\.0\.0\.0/33' is not an IP address or CIDR"):
        trusted_networks_parse(["10.0.0.0/33"])
