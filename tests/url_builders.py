"""URL builders shared by every app a test process builds (a test-only speed-up).

Each test builds an app, and Werkzeug compiles two Python functions for each of its URL rules
(about 60): generating and compiling them was about a fifth of a typical test's CPU time. The
function Werkzeug generates depends only on the rule's text, its parsed parts, its defaults and
whether unknown arguments are appended: it reaches the rule's converters through the rule it is
bound to (`.self`). So one compiled function per such key serves every app's rule alike, as
TemplateCodeCache (tests/conftest.py) does for templates. Production builds one app per process
and is not touched.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from importlib.metadata import version
from typing import Any

import pytest
from werkzeug.routing.rules import Rule

# The Werkzeug whose `Rule._compile_builder` this was read against (the one the pinned Flask
# installs today); under any other the rules are compiled as Werkzeug does.
READ_AGAINST = "3.1.9"


def _key(rule: Rule, append_unknown: bool) -> Hashable:
    """Everything the generated builder depends on."""
    defaults = rule.defaults or {}
    converters = tuple(
        sorted((name, type(converter).__qualname__) for name, converter in rule._converters.items())
    )
    return (
        append_unknown,
        rule.rule,
        rule.host,
        rule.subdomain,
        rule.merge_slashes,
        tuple(rule._trace),
        repr(sorted(defaults.items())),
        converters,
    )


@contextmanager
def shared_url_builders() -> Iterator[None]:
    """Within this block, a builder Werkzeug compiled once is reused for an identical rule."""
    if version("werkzeug") != READ_AGAINST:
        yield  # another Werkzeug: compile as it does, rather than guess at its internals
        return
    original: Callable[..., Any] = Rule._compile_builder
    built: dict[Hashable, Callable[..., Any]] = {}

    def compile_builder(self: Rule, append_unknown: bool = True) -> Callable[..., Any]:
        key = _key(self, append_unknown)
        if key not in built:
            built[key] = original(self, append_unknown)
        return built[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Rule, "_compile_builder", compile_builder)
        yield
