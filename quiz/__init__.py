"""Engpass-Quiz: a self-assessment quiz scored into a tailored bottleneck analysis.

The app factory lives in `quiz.factory`. This package reaches it lazily (PEP 562) so that importing
the pure domain core (`quiz.domain.scoring`, say, in a script or a notebook) never loads Flask,
click, SQLAlchemy or matplotlib: a package's `__init__` runs before any of its submodules.
`flask --app quiz` and `from quiz import create_app` work as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from quiz.factory import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    """`quiz.create_app`, imported on first use (the one import not at the top, see above)."""
    if name == "create_app":
        from quiz.factory import create_app

        return create_app
    raise AttributeError(f"module 'quiz' has no attribute {name!r}")
