"""The app's request class: Flask's, with its cookies read straight from the WSGI environ.

Werkzeug reads the Cookie header through the request's headers view of the environ, whose
look-up of all values of one header walks every key of the environ and rewrites each header's
name (`HTTP_USER_AGENT` -> `User-Agent`): 10-30 us a request, the larger part of opening the
session. A WSGI environ holds the header once, as `HTTP_COOKIE`, so reading that key gives the
same text, parsed by the same function (Werkzeug's request's, which takes the text as the
environ holds it) into the same mapping (issue 22).
"""

from __future__ import annotations

import flask
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.sansio.http import parse_cookie
from werkzeug.utils import cached_property


class Request(flask.Request):
    """Flask's request; `cookies` as Werkzeug parses them, without the walk of the environ."""

    @cached_property
    def cookies(self) -> ImmutableMultiDict[str, str]:
        """The cookies the request carries (the first value first where a name repeats)."""
        parsed: ImmutableMultiDict[str, str] = parse_cookie(  # type: ignore[assignment]
            self.environ.get("HTTP_COOKIE", ""), cls=self.dict_storage_class
        )
        return parsed
