"""Where the server may fetch media from: URL and destination policy (SSRF defence).

Every hop of an http(s) fetch passes `check_url` (scheme, credentials, domain lists, numeric
host forms) and every connection passes `resolve_checked` (all resolved addresses checked, the
connection made to the checked address), so a DNS answer cannot change between check and connect.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from server.errors import BadRequestError
from server.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

FETCH_SCHEMES = frozenset({"http", "https"})

# Cloud instance-metadata endpoints: AWS/GCP/Azure/OpenStack, AWS IPv6, Alibaba, Oracle.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
METADATA_HOSTNAMES = frozenset({"metadata.google.internal", "metadata", "instance-data"})
CARRIER_GRADE_NAT = ipaddress.ip_network("100.64.0.0/10")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Characters that parse differently in different URL parsers (the backslash bypass of
# CVE-2026-24779), and whitespace/controls that some parsers strip silently.
_AMBIGUOUS_URL_CHARS = re.compile(r"[\\\s\x00-\x1f\x7f]")
_IPV4_PART = re.compile(r"^(0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*)$")


@dataclass(frozen=True)
class MediaPolicy:
    """The destination rules of settings, parsed once at start-up."""

    allowed_networks: tuple[IPNetwork, ...] = ()
    allowed_domains: tuple[str, ...] = ()
    denied_domains: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> MediaPolicy:
        return cls(
            allowed_networks=tuple(
                ipaddress.ip_network(net, strict=False) for net in settings.media_allowed_networks
            ),
            allowed_domains=tuple(normalise_domain(d) for d in settings.media_allowed_domains),
            denied_domains=tuple(normalise_domain(d) for d in settings.media_denied_domains),
        )


def refused(message: str) -> BadRequestError:
    return BadRequestError(message, param="image_url", code="image_url_refused")


def normalise_domain(domain: str) -> str:
    return domain.strip().rstrip(".").lower()


def parse_numeric_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """inet_aton's forms: 1-4 parts, each decimal, octal (0 prefix) or hex (0x prefix);
    the last part fills the remaining bytes (127.1, 2130706433, 0x7f.0.0.1, 0177.0.0.1)."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_IPV4_PART.match(part) for part in parts):
        return None
    values = [_parse_ipv4_part(part) for part in parts]
    last_bits = 8 * (5 - len(values))
    if any(value > 255 for value in values[:-1]) or values[-1] >= 1 << last_bits:
        raise refused(f"The image URL's host {host!r} is an out-of-range numeric address.")
    number = 0
    for value in values[:-1]:
        number = number << 8 | value
    return ipaddress.IPv4Address(number << last_bits | values[-1])


def _parse_ipv4_part(part: str) -> int:
    if part[:2] in ("0x", "0X"):
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8)
    return int(part)


def host_address(host: str) -> IPAddress | None:
    """The address a host names literally (IPv6, or any IPv4 numeric form); None for names."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return parse_numeric_ipv4(host)


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address carried by IPv4-mapped, -compatible, 6to4 and NAT64 IPv6 forms."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if int(address) >> 32 == 0 and int(address) > 1:  # deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(address))
    return None


def address_class(address: IPAddress) -> str | None:
    """Why an address is refused by default (a class name), or None for a public address."""
    if isinstance(address, ipaddress.IPv6Address) and embedded_ipv4(address) is not None:
        return "an IPv6 address embedding IPv4 (mapped, compatible, 6to4 or NAT64)"
    checks = (
        (address in METADATA_ADDRESSES, "a cloud metadata address"),
        (address.is_unspecified, "the unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address in CARRIER_GRADE_NAT, "a carrier-grade NAT address"),
        (address.is_reserved, "a reserved address"),
        (address.is_private, "a private address"),
        (not address.is_global, "a non-public (special-purpose) address"),
    )
    return next((name for hit, name in checks if hit), None)


def check_address(address: IPAddress, policy: MediaPolicy, host: str) -> None:
    """Refuses an address of a refused class unless an allowed network holds it."""
    if any(address in network for network in policy.allowed_networks):
        return
    reason = address_class(address)
    if reason is not None:
        raise refused(
            f"The image URL's host {host!r} is {address}, {reason}; fetching from it is "
            "refused (an operator can allow networks with media_allowed_networks)."
        )


def domain_matches(host: str, domains: Iterable[str]) -> bool:
    """True when host is one of the domains or a subdomain of one."""
    return any(host == domain or host.endswith("." + domain) for domain in domains)


def check_url(url: str, policy: MediaPolicy) -> httpx.URL:
    """Checks an http(s) URL (one hop) before any connection; returns it parsed by the same
    parser the HTTP client uses, so the host checked is the host connected to."""
    if _AMBIGUOUS_URL_CHARS.search(url):
        raise refused("The image URL contains a backslash, whitespace or control character.")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as error:
        _check_numeric_host_of_malformed(url, policy)  # names the class when there is one
        raise refused(f"The image URL is malformed: {error}") from error
    if parsed.scheme not in FETCH_SCHEMES:
        raise refused(f"Image URLs with the scheme {parsed.scheme!r} are not fetched; use http(s).")
    if parsed.userinfo:
        raise refused("Image URLs with credentials (user@host) are refused.")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise refused(f"The image URL's port {parsed.port} is out of range.")
    host = normalise_domain(parsed.host)
    if not host:
        raise refused("The image URL has no host.")
    _check_domain_lists(host, policy)
    literal = host_address(host)
    if literal is not None:
        check_address(literal, policy, host)
    return parsed


def _check_numeric_host_of_malformed(url: str, policy: MediaPolicy) -> None:
    """httpx refuses forms like 0251.0376.0251.0376 outright; say which address it means."""
    try:
        host = urlsplit(url).hostname or ""
        literal = host_address(host)
    except (ValueError, BadRequestError):
        return
    if literal is not None:
        check_address(literal, policy, host)


def _check_domain_lists(host: str, policy: MediaPolicy) -> None:
    if domain_matches(host, policy.denied_domains):
        raise refused(f"The image URL's host {host!r} is on the media deny-list.")
    if policy.allowed_domains and not domain_matches(host, policy.allowed_domains):
        raise refused(f"The image URL's host {host!r} is not on the media allow-list.")
    if host in METADATA_HOSTNAMES and not policy.allowed_domains:
        raise refused(f"The image URL's host {host!r} is a cloud metadata service.")


async def resolve_checked(host: str, port: int, policy: MediaPolicy) -> str:
    """Resolves once; refuses if ANY address is refused; returns the address to connect to."""
    literal = host_address(host)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        addresses = await _resolve(host, port)
    for address in addresses:
        check_address(address, policy, host)
    return str(addresses[0])


async def _resolve(host: str, port: int) -> list[IPAddress]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise BadRequestError(
            f"The image URL's host {host!r} could not be resolved.", param="image_url"
        ) from error
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        raise BadRequestError(f"The image URL's host {host!r} has no address.", param="image_url")
    return addresses
