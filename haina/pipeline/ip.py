"""IP address validation and anonymisation.

Anonymisation keeps the network part only: IPv4 loses its last octet (/24), IPv6 its last 80
bits (/48), the same truncation Google Analytics and Matomo apply. An IPv4-mapped IPv6
address (``::ffff:1.2.3.4``) is treated as the IPv4 address it carries.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from typing import Final

__all__ = ["anonymise_ip", "is_valid_ip", "parse_ip"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_MAX_IP_LENGTH: Final = 64  # longest IPv6 text (45) plus a zone id
_IPV6_KEEP: Final = ((1 << 48) - 1) << 80
# Dotted-quad IPv4 without leading zeros (what `ipaddress` accepts), checked without it: the
# common case then costs one regex match instead of building address objects.
_OCTET: Final = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4_RE: Final = re.compile(rf"\s*((?:{_OCTET}\.){{3}}){_OCTET}\s*")


@lru_cache(maxsize=65_536)
def parse_ip(ip: str | None) -> IPAddress | None:
    """The address in `ip` (surrounding blanks ignored), IPv4-mapped IPv6 unwrapped to IPv4.

    None for anything that is not an IP address; never raises. Cached (the ingest path asks
    about the same client addresses over and over).
    """
    if not ip or len(ip := ip.strip()) > _MAX_IP_LENGTH:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_valid_ip(ip: str | None) -> bool:
    """True when `ip` is an IPv4 or IPv6 address."""
    if ip and _IPV4_RE.fullmatch(ip):
        return True
    return parse_ip(ip) is not None


@lru_cache(maxsize=65_536)
def anonymise_ip(ip: str | None) -> str | None:
    """`ip` with its host part zeroed (IPv4 /24, IPv6 /48); None when `ip` is not an address.

    Idempotent, and the result always lies in the same network as the input.
    """
    match = _IPV4_RE.fullmatch(ip) if ip else None
    if match is not None:
        return match.group(1) + "0"
    address = parse_ip(ip)
    if address is None:
        return None
    if isinstance(address, ipaddress.IPv4Address):  # an IPv4-mapped IPv6 address
        return anonymise_ip(str(address))
    return str(ipaddress.IPv6Address(int(address) & _IPV6_KEEP))
