import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from haina.pipeline.ip import anonymise_ip, is_valid_ip, parse_ip

quick = settings(database=None)


@pytest.mark.parametrize(
    ("ip", "anonymised"),
    [
        ("1.2.3.4", "1.2.3.0"),
        ("81.2.69.255", "81.2.69.0"),
        ("10.0.0.0", "10.0.0.0"),
        (" 192.168.1.77\n", "192.168.1.0"),
        ("::ffff:1.2.3.4", "1.2.3.0"),  # IPv4-mapped IPv6 is the IPv4 address
        ("2001:db8:1234:5678:9abc:def0:1234:5678", "2001:db8:1234::"),
        ("2408:8207:2460:1:ffff:ffff:ffff:ffff", "2408:8207:2460::"),
        ("fe80::1%eth0", "fe80::"),
        ("::1", "::"),
    ],
)
def test_anonymise_zeroes_the_host_part(ip: str, anonymised: str) -> None:
    assert anonymise_ip(ip) == anonymised


@pytest.mark.parametrize(
    "ip",
    [None, "", " ", "1.2.3", "256.1.1.1", "1.2.3.4:80", "01.2.3.4", "abc", "1.2.3.4/24", "::g"],
)
def test_invalid_addresses_give_none(ip: str | None) -> None:
    assert anonymise_ip(ip) is None
    assert not is_valid_ip(ip)
    assert parse_ip(ip) is None


def test_valid_addresses() -> None:
    assert is_valid_ip("1.2.3.4")
    assert is_valid_ip("2001:db8::1")
    assert parse_ip("::ffff:8.8.8.8") == ipaddress.IPv4Address("8.8.8.8")


@quick
@given(st.ip_addresses())
def test_anonymised_address_is_valid_coarser_and_idempotent(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    anonymised = anonymise_ip(str(address))
    assert anonymised is not None and is_valid_ip(anonymised)
    assert anonymise_ip(anonymised) == anonymised
    original = parse_ip(str(address))  # IPv4-mapped addresses come back as IPv4
    assert original is not None
    prefix = 24 if original.version == 4 else 48
    network = ipaddress.ip_network(f"{anonymised}/{prefix}")
    assert original in network
    assert network.network_address == ipaddress.ip_address(anonymised)


@quick
@given(st.text(max_size=80))
def test_arbitrary_text_never_raises(text: str) -> None:
    anonymised = anonymise_ip(text)
    assert anonymised is None or is_valid_ip(anonymised)
    assert (anonymised is None) == (not is_valid_ip(text)) == (parse_ip(text) is None)


@quick
@given(st.ip_addresses(v=4), st.sampled_from(["", " ", "\t", "\n "]))
def test_ipv4_fast_path_agrees_with_ipaddress(address: ipaddress.IPv4Address, blank: str) -> None:
    text = f"{blank}{address}{blank}"
    assert anonymise_ip(text) == str(ipaddress.ip_network(f"{address}/24", strict=False)[0])
    assert parse_ip(text) == address
