"""Which webhook URLs may be called: the scheme, and the address the host name resolves to.

A URL is checked twice: when the coach saves it (scheme, form, a literal IP address) and at
every send, on the addresses its host name resolves to *then*, so a DNS record changed later
cannot point the sender at the machine itself or the private network (DNS rebinding). The
sender connects to the very address that was checked, never resolving the name again.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
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
    try:
        ascii_host(parts.hostname)
    except UnicodeError:
        raise BlockedURL(f"{parts.hostname!r} is not a valid host name") from None
    return parts


def ascii_host(host: str) -> str:
    """The host name as sent on the wire: internationalised names in their IDNA form."""
    return host if host.isascii() else host.encode("idna").decode("ascii")


def is_public(address: IPAddress) -> bool:
    """False for loopback, private, link-local, shared, reserved, multicast and unspecified."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
    )


def check_saved(url: str, *, https_only: bool, public_only: bool) -> str:
    """The URL, normalised, when it may be saved; BlockedURL otherwise (no DNS look-up here)."""
    parts = parse(url, https_only=https_only)
    if public_only:
        host = parts.hostname or ""
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None and not is_public(literal):
            raise BlockedURL(f"{host} is not a public address", "private")
        if host == "localhost" or host.endswith(".localhost"):
            raise BlockedURL(f"{host} is this machine", "private")
    return parts.geturl()


def resolve(url: str, *, https_only: bool, public_only: bool) -> Target:
    """Resolve the URL's host now and check every address; BlockedURL when any is refused.

    socket.gaierror (the name does not resolve) passes through: that may be temporary.
    """
    parts = parse(url, https_only=https_only)
    host = ascii_host(parts.hostname or "")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    addresses: list[str] = []
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
