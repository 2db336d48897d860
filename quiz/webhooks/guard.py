"""Which webhook URLs may be called: the scheme, and the address the host name resolves to.

A URL is checked twice by the same `check_host`: when the coach saves it and at every send. The
host is read as a resolver reads it (IDNA, so full-width digits and ideographic dots; any case; a
trailing dot; every numeric form of an IPv4 address; names in the hosts file), and an IPv6
address that leads to an IPv4 one (mapped, 6to4, Teredo, NAT64) is judged by that too. At every
send the addresses the name resolves to *then* are checked as well, so a DNS record changed later
cannot point the sender at the machine itself or the private network (DNS rebinding). The sender
connects to the very address that was checked, never resolving the name again.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedURL(ValueError):
    """The URL or the address it resolves to may not be called; the message says why.

    `reason` (invalid, scheme, https, host, credentials, private) lets a form say it in German.
    """

    def __init__(self, message: str, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Target:
    """Where to send: the URL's parts and the checked addresses to connect to, in order."""

    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]

    @property
    def host_header(self) -> str:
        """The Host header the receiver expects (the name, never the address)."""
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def parse(url: str, *, https_only: bool) -> SplitResult:
    """The URL's parts when its form is acceptable; BlockedURL otherwise."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise BlockedURL(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise BlockedURL("only http:// and https:// URLs can receive webhooks", "scheme")
    if https_only and parts.scheme != "https":
        raise BlockedURL("only https:// URLs are allowed here", "https")
    if not parts.hostname:
        raise BlockedURL("the URL has no host name", "host")
    if parts.username or parts.password:
        raise BlockedURL("the URL must not contain a user name or password", "credentials")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url.strip()):
        raise BlockedURL("the URL contains spaces or control characters")
    return parts


def ascii_host(host: str) -> str:
    """The host name as sent on the wire: internationalised names in their IDNA form."""
    return host if host.isascii() else host.encode("idna").decode("ascii")


def normal_host(host: str) -> str:
    """The host as a resolver reads it: IDNA (full-width letters and digits, ideographic dots),
    lower case, no trailing dot; an IPv6 literal without its zone. UnicodeError if invalid."""
    name = ascii_host(host.split("%", 1)[0] if ":" in host else host).lower().rstrip(".")
    if not name or not _HOST_CHARS.fullmatch(name):
        raise UnicodeError(f"{host!r} is not a host name")
    return name


_HOST_CHARS = re.compile(r"[a-z0-9._-]+|[0-9a-f:.]+")
_NUMBER = re.compile(r"0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*")


def numeric_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The address an inet_aton-style resolver reads in `host` (`2130706433`, `0177.0.0.1`,
    `0x7f.1`, `127.1`, `0`), or None when it is a name."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_NUMBER.fullmatch(part) for part in parts):
        return None
    numbers = [_number(part) for part in parts]
    *high, last = numbers
    if any(number > 255 for number in high) or last >= 256 ** (4 - len(high)):
        return None
    value = last
    for index, number in enumerate(high):
        value |= number << (24 - 8 * index)
    return ipaddress.IPv4Address(value)


def _number(part: str) -> int:
    """One part of a numeric IPv4 form: hex (0x), octal (a leading 0) or decimal."""
    if part[:2].lower() == "0x":
        return int(part[2:] or "0", 16)
    return int(part, 8) if part.startswith("0") else int(part)


def literal_address(host: str) -> IPAddress | None:
    """The address a normalised host names literally, in any numeric form; None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return numeric_ipv4(host)


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to: mapped, compatible, 6to4, Teredo, NAT64."""
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    if any(address in net for net in (*_NAT64, _COMPATIBLE)):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


# The well-known NAT64 prefix (RFC 6052); the local-use 64:ff9b:1::/48 is reserved anyway.
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"),)
_COMPATIBLE = ipaddress.ip_network("::/96")


def is_public(address: IPAddress) -> bool:
    """False for loopback, private, link-local, shared, reserved, multicast and unspecified,
    also behind an IPv6 form that leads to such an IPv4 address (mapped, 6to4, Teredo, NAT64)."""
    if isinstance(address, ipaddress.IPv6Address):
        if not all(is_public(inner) for inner in embedded_ipv4(address)):
            return False
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
    return address.is_global and not (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
    )


def hosts_file_addresses(host: str) -> list[str]:
    """The addresses the hosts file gives this name (the resolver reads it before any DNS)."""
    try:
        lines = Path(HOSTS_FILE).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        fields = line.split("#", 1)[0].split()
        if len(fields) > 1 and host in (name.lower().rstrip(".") for name in fields[1:]):
            found.append(fields[0])
    return found


HOSTS_FILE = "/etc/hosts"


def check_host(host: str, *, public_only: bool) -> tuple[str, IPAddress | None]:
    """The one check of a host, at saving and at every send: its normal form and the address it
    names literally (None for a name); BlockedURL when it is this machine or a private network."""
    try:
        name = normal_host(host)
    except UnicodeError:
        raise BlockedURL(f"{host!r} is not a valid host name") from None
    literal = literal_address(name)
    if public_only:
        if name == "localhost" or name.endswith(".localhost"):
            raise BlockedURL(f"{host} is this machine", "private")
        addresses = [str(literal)] if literal is not None else hosts_file_addresses(name)
        for text in addresses:
            try:
                address = ipaddress.ip_address(text.split("%", 1)[0])
            except ValueError:
                continue
            if not is_public(address):
                raise BlockedURL(f"{host} is not a public address", "private")
    return name, literal


def check_saved(url: str, *, https_only: bool, public_only: bool) -> str:
    """The URL, normalised, when it may be saved; BlockedURL otherwise.

    The same check as at every send (`check_host`), but for the DNS look-up, which may change.
    """
    parts = parse(url, https_only=https_only)
    check_host(parts.hostname or "", public_only=public_only)
    return parts.geturl()


def resolve(url: str, *, https_only: bool, public_only: bool) -> Target:
    """Resolve the URL's host now and check every address; BlockedURL when any is refused.

    socket.gaierror (the name does not resolve) passes through: that may be temporary.
    """
    parts = parse(url, https_only=https_only)
    host, literal = check_host(parts.hostname or "", public_only=public_only)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses: list[str] = []
    if literal is not None:
        addresses.append(str(literal))  # connect to the address checked, whatever its form
    else:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
        for _family, _type, _proto, _name, sockaddr in infos:
            text = str(sockaddr[0]).split("%", 1)[0]  # drop an IPv6 zone id
            if text not in addresses:
                addresses.append(text)
    if not addresses:
        raise socket.gaierror(f"{host} has no address")
    if public_only:
        # Every address, not only the first: a name with one public and one private address
        # would otherwise reach the private one whenever the first connection fails.
        refused = [a for a in addresses if not is_public(ipaddress.ip_address(a))]
        if refused:
            raise BlockedURL(
                f"{host} resolves to {', '.join(refused)}, which is not public", "private"
            )
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, host, port, path, tuple(addresses))
