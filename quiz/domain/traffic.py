"""Which landing-page views count as a visit, and the referrer host they came from (issue 25).

Pure rules, so the web layer, the counters and their rebuild apply exactly the same ones.

The visit rule (also in the README and the privacy notice): a GET of the landing page counts
once, unless the browser says it is only fetching ahead (`Sec-Purpose: prefetch` or
`prerender`, `Purpose: prefetch`, `X-Moz: prefetch`, `X-Purpose: preview`), or the User-Agent
is missing or names a bot, crawler, link preview, monitor or HTTP library (`BOT_PATTERN`).
Nothing about the visitor is kept: no cookie is set, no address or agent is stored, only the
day's counter per source goes up.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

# Case-insensitive; the usual self-declared robots, link previews and tools ("bot" as a word's
# end, but not the phone maker Cubot).
BOT_PATTERN = re.compile(
    r"(?<!cu)bot\b|bot/|crawl|spider|slurp|archiver|preview|facebookexternalhit|embedly|"
    r"headlesschrome|phantomjs|lighthouse|pingdom|uptime|monitor|curl/|wget/|"
    r"python-requests|python-urllib|aiohttp|httpx|go-http-client|java/|okhttp|libwww|"
    r"node-fetch|axios|scrapy|feedfetcher|whatsapp|telegrambot|discordbot|slackbot|"
    r"skypeuripreview|bingpreview|yahoo! slurp",
    re.IGNORECASE,
)
# Words one of which every match of BOT_PATTERN contains: a plain-ASCII agent (every browser's)
# without any of them, lower-cased, cannot match, and is let through without running the
# pattern, whose many case-insensitive alternatives cost about 30 us a view (a tenth of the
# landing page's time, issue 22). Any other agent meets the pattern itself: case-insensitive
# matching of non-ASCII text is not the same as lower-casing it.
_BOT_WORDS = (
    "bot",
    "crawl",
    "spider",
    "slurp",
    "archiver",
    "preview",
    "facebookexternalhit",
    "embedly",
    "headlesschrome",
    "phantomjs",
    "lighthouse",
    "pingdom",
    "uptime",
    "monitor",
    "curl/",
    "wget/",
    "python-requests",
    "python-urllib",
    "aiohttp",
    "httpx",
    "go-http-client",
    "java/",
    "okhttp",
    "libwww",
    "node-fetch",
    "axios",
    "scrapy",
    "feedfetcher",
    "whatsapp",
)
_PREFETCH_HEADERS = ("Sec-Purpose", "Purpose", "X-Moz", "X-Purpose")
_PREFETCH_WORDS = ("prefetch", "prerender", "preview")
# The request headers the rule reads.
HEADERS = ("User-Agent", *_PREFETCH_HEADERS)


def counts_as_visit(method: str, headers: Mapping[str, str]) -> bool:
    """Whether a request of the landing page is a person's view (see the module's rule)."""
    if method != "GET":
        return False
    for name in _PREFETCH_HEADERS:
        value = (headers.get(name) or "").lower()
        if any(word in value for word in _PREFETCH_WORDS):
            return False
    agent = headers.get("User-Agent") or ""
    if not agent.strip():
        return False
    if agent.isascii():
        lowered = agent.lower()
        if not any(word in lowered for word in _BOT_WORDS):
            return True
    return BOT_PATTERN.search(agent) is None


def referrer_host(referrer: str | None, own_host: str | None = None) -> str:
    """The host a visitor came from: lower case, without `www.`, port and trailing dot; ""
    for none, for one that cannot be read, and for our own site (a click within it)."""
    if not referrer:
        return ""
    try:
        host = urlsplit(referrer.strip()).hostname or ""
    except ValueError:
        return ""
    host = host.strip(".").lower()
    if host.startswith("www."):
        host = host[4:]
    own = (own_host or "").split(":")[0].strip(".").lower().removeprefix("www.")
    if own and host == own:
        return ""
    return host[:253]


# A referrer of nothing but an origin: what other sites send by default (Referrer-Policy
# strict-origin-when-cross-origin), and all a landing view's source needs.
_ORIGIN_ONLY = re.compile(r"https?://[A-Za-z0-9.\-]{1,253}(?::[0-9]{1,5})?/?")
# The tracking fields a campaign's links share; utm_term and utm_content may carry free text.
_CAMPAIGN_FIELDS = frozenset({"utm_source", "utm_medium", "utm_campaign", "referrer"})


def is_campaign_only(tracking: Mapping[str, str]) -> bool:
    """Whether a view's tracking values name only a campaign and an origin, nothing that could
    say more about the visitor: then what is derived from them may be kept in a worker's
    memory for the next view of the same campaign (a full referrer URL or free-text utm_term
    and utm_content never is)."""
    if not _CAMPAIGN_FIELDS.issuperset(tracking):
        return False
    referrer = tracking.get("referrer")
    return referrer is None or _ORIGIN_ONLY.fullmatch(referrer) is not None
