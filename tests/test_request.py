"""The app's request class reads the cookies as Werkzeug does, straight from the environ."""

from __future__ import annotations

import pytest
from flask import Flask
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request as WerkzeugRequest

from quiz.web.request import Request

pytestmark = pytest.mark.dialect_independent


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "session=abc.def.ghi; quiz_draft=xyz",
        'a="quoted \\"value\\""; b=2; a=again',
        "spaced = value ; empty=; novalue",
        "über=ß".encode().decode("latin-1"),  # UTF-8 bytes, as a WSGI environ holds them
        "x=%E2%82%AC; y=a,b",
    ],
)
def test_cookies_are_the_ones_werkzeug_reads(header: str | None) -> None:
    headers = {"Cookie": header} if header is not None else {}
    environ = EnvironBuilder(path="/", headers=headers).get_environ()
    ours = Request(environ).cookies
    stock = WerkzeugRequest(environ).cookies
    assert list(ours.items(multi=True)) == list(stock.items(multi=True))
    assert type(ours) is type(stock)


def test_the_app_uses_it(app: Flask) -> None:
    assert app.request_class is Request
    with app.test_request_context("/", headers={"Cookie": "quiz_draft=t0ken"}) as ctx:
        assert isinstance(ctx.request, Request)
        assert ctx.request.cookies["quiz_draft"] == "t0ken"
