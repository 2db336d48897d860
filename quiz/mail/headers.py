"""Address and link headers written exactly as built here, never parsed and refolded on the way out.

Python's email package (3.11.7 as installed) parses every header value it is given: an RFC 2047
encoded word in a display name (`=?utf-8?b?DQpSZXBseS1UbzogLi4u?=`) is decoded, and the decoded
CR/LF is written out as real line breaks, i.e. as new headers or the start of the body (issue 10).
So the headers that carry outside data (`To`, `From`) or must stay raw (`List-Unsubscribe`, RFC 2369
and RFC 8058) are `RawHeader` objects: the policy treats a value with a `name` as a finished header
and only asks it to fold itself. A display name is either a quoted string of plain printable ASCII
or RFC 2047 encoded by us (UTF-8, base64), so no mail program ever sees an encoded word it would
decode into something else. Addresses go out with their domain in IDNA (xn--) form.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import Policy, default
from functools import lru_cache
from typing import Any

import idna

# An RFC 2047 encoded word, or anything a lenient decoder might take for one.
ENCODED_WORD = re.compile(r"=\?.*\?=", re.DOTALL)
# What str.splitlines() (and so the email package's folding) treats as a line break, plus the
# other control characters: none of them belongs in a name.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})
# A name also carries no format characters: bidi overrides (U+202E turns "Anna" into a text that
# reads backwards), zero-width joiners and spaces, soft hyphens, the BOM.
_UNSAFE_NAME_CATEGORIES = _UNSAFE_CATEGORIES | {"Cf"}


class AddressError(ValueError):
    """An address that cannot be written into a header or an SMTP envelope."""


def unsafe_name(name: str) -> bool:
    """True for a name holding an encoded word, a control or format character or a line
    separator."""
    if ENCODED_WORD.search(name):
        return True
    return any(unicodedata.category(char) in _UNSAFE_NAME_CATEGORIES for char in name)


def format_characters(text: str) -> bool:
    """True when the text holds an invisible format character (bidi controls, zero-width ones)."""
    return any(unicodedata.category(char) == "Cf" for char in text)


def usable_name(name: str | None) -> str:
    """The name to greet and address someone by; "" when there is none or it is unsafe.

    The form refuses unsafe names; this also covers rows stored before it did.
    """
    name = (name or "").strip()
    return "" if not name or unsafe_name(name) else name


@lru_cache(maxsize=4096)
def _split(address: str) -> tuple[str, str]:
    """(local part, domain in IDNA form) of an address; AddressError for a malformed one."""
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise AddressError("an address needs a local part, an @ and a domain")
    if ENCODED_WORD.search(local):
        # Mail programs decode it: =?utf-8?q?evil=40attacker.test?=@example.org reads as another
        # address. The form refuses such addresses; this covers rows stored before it did.
        raise AddressError("an encoded word in the local part")
    if any(char.isspace() or char in "<>" or not char.isprintable() for char in address):
        raise AddressError("white space, angle brackets or control characters in an address")
    if domain.isascii():
        return local, domain
    try:
        # UTS 46 mapping, then IDNA 2008 (as email-validator does): straße.de keeps its ß.
        return local, idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise AddressError(f"the domain cannot be written in IDNA form: {exc}") from None


def ascii_address(address: str) -> str | None:
    """The address with its domain in IDNA form; None when the local part is not ASCII.

    Such an address can only be sent with SMTPUTF8. Raises AddressError for a malformed one.
    """
    local, domain = _split(address)
    return f"{local}@{domain}" if local.isascii() else None


def envelope_address(address: str) -> str:
    """The form of an address for the SMTP envelope and the header (IDNA domain)."""
    local, domain = _split(address)
    return f"{local}@{domain}"


class RawHeader(str):
    """A header value written out as it is, only folded at the points chosen when it was built.

    `EmailPolicy` stores and folds any value that has a `name` as a finished header object (see
    `header_store_parse` and `fold` in the email.policy docs), so nothing decodes or refolds it.
    Lines are separated by "\\n " here and joined with the policy's line separator on output.
    """

    name: str

    def __new__(cls, name: str, lines: list[str]) -> RawHeader:
        for line in lines:
            if any(unicodedata.category(char) in _UNSAFE_CATEGORIES for char in line):
                raise ValueError("a control character or line break in a header")
        value = super().__new__(cls, "\n ".join(lines))
        value.name = name
        return value

    def fold(self, *, policy: Policy) -> str:
        """The header as it goes on the wire."""
        return f"{self.name}: {policy.linesep.join(self.split(chr(10)))}{policy.linesep}"


def address_header(name: str, display_name: str, address: str) -> RawHeader:
    """`To`/`From`: the display name quoted or RFC 2047 encoded by us, the address in IDNA form."""
    addr = envelope_address(address)
    display_name = usable_name(display_name)
    if not display_name:
        return RawHeader(name, [addr])
    if display_name.isascii() and display_name.isprintable():
        quoted = display_name.replace("\\", "\\\\").replace('"', '\\"')
        return RawHeader(name, [f'"{quoted}"', f"<{addr}>"])
    # Our own encoded words; the decoded text is the name exactly as typed, which a mail program
    # shows and never decodes a second time.
    return RawHeader(name, [*encoded_words(display_name), f"<{addr}>"])


# An encoded word is at most 75 characters: "=?utf-8?b?" + base64 of 45 bytes (60) + "?=".
_WORD_BYTES = 45


def encoded_words(text: str) -> list[str]:
    """`text` as RFC 2047 encoded words (UTF-8, base64), one per folded line.

    Words break after a space, and the space stays inside the word before it: a decoder drops the
    white space between two encoded words, and some (Python's own among them) insert a space
    instead, so a break in the middle of a word would change the name either way.
    """
    chunks: list[str] = []
    current = ""
    for piece in re.findall(r"\S*\s*", text):
        if not piece:
            continue
        if len((current + piece).encode()) <= _WORD_BYTES:
            current += piece
            continue
        if current:
            chunks.append(current)
        current = ""
        for char in piece:  # a single piece too long for one word: split between characters
            if len((current + char).encode()) > _WORD_BYTES:
                chunks.append(current)
                current = ""
            current += char
    if current:
        chunks.append(current)
    return [f"=?utf-8?b?{base64.b64encode(chunk.encode()).decode()}?=" for chunk in chunks]


def link_header(name: str, url: str) -> RawHeader:
    """`List-Unsubscribe`: `<https://…>` unencoded on one line, however long (up to 998)."""
    value = f"<{url}>"
    if not value.isascii() or len(name) + 2 + len(value) > 998:
        raise ValueError("the link cannot be written as a raw header")
    return RawHeader(name, [value])


class _Headers(HeaderRegistry):
    """The standard header classes, each built once.

    The standard registry builds a new class for every header it stores (`type(...)` in its
    `__getitem__`), dozens per message; the classes hold no state, so one per header name makes
    the same headers for a fraction of the time.
    """

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        found = self._classes.get(key)
        if found is None:
            found = self._classes[key] = super().__getitem__(name)
        return found


# email.policy.default, with the header classes built once (same output).
POLICY = default.clone(header_factory=_Headers())


class OutgoingMessage(EmailMessage):
    """An email plus its SMTP envelope, so no transport derives the envelope from the headers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("policy", POLICY)
        super().__init__(*args, **kwargs)
        self.envelope_from = ""
        self.envelope_to: list[str] = []

    @property
    def needs_smtputf8(self) -> bool:
        """True when an envelope address has a non-ASCII local part."""
        return not all(a.isascii() for a in (self.envelope_from, *self.envelope_to))
