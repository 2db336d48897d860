"""Where the project's non-Python files live, in a source checkout and in an installed wheel."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
_CHECKOUT_ROOT = PACKAGE_DIR.parent
_BUNDLE = PACKAGE_DIR / "_bundle"


def resource_dir(name: str) -> Path:
    """`templates`, `static`, `content` or `migrations`: the checkout's copy, else the wheel's."""
    bundled = _BUNDLE / name
    if bundled.is_dir():
        return bundled
    return _CHECKOUT_ROOT / name
