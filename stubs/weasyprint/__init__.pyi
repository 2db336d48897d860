# WeasyPrint 70.0: HTML and CSS (weasyprint/__init__.py); Document, Attachment and the rest are
# not typed here yet (the module's __getattr__).
from collections.abc import Callable
from os import PathLike
from typing import IO, Any, overload

__version__: str
VERSION: str

# A URLFetcher, or any callable the documentation allows for a URL.
_URLFetcher = Callable[[str], Any]
_Source = str | PathLike[str] | IO[bytes] | IO[str]

class HTML:
    def __init__(
        self,
        guess: _Source | None = None,
        filename: str | PathLike[str] | None = None,
        url: str | None = None,
        file_obj: IO[bytes] | IO[str] | None = None,
        string: str | bytes | None = None,
        encoding: str | None = None,
        base_url: str | PathLike[str] | None = None,
        url_fetcher: _URLFetcher | None = None,
        media_type: str = "print",
    ) -> None: ...
    def render(
        self,
        font_config: Any = None,
        counter_style: Any = None,
        color_profiles: Any = None,
        **options: Any,
    ) -> Any: ...
    # The PDF's bytes without a target; written to the target (and None) with one.
    @overload
    def write_pdf(
        self,
        target: None = None,
        zoom: float = 1,
        finisher: Callable[..., Any] | None = None,
        font_config: Any = None,
        counter_style: Any = None,
        color_profiles: Any = None,
        **options: Any,
    ) -> bytes: ...
    @overload
    def write_pdf(
        self,
        target: str | PathLike[str] | IO[bytes],
        zoom: float = 1,
        finisher: Callable[..., Any] | None = None,
        font_config: Any = None,
        counter_style: Any = None,
        color_profiles: Any = None,
        **options: Any,
    ) -> None: ...

class CSS:
    def __init__(
        self,
        guess: _Source | None = None,
        filename: str | PathLike[str] | None = None,
        url: str | None = None,
        file_obj: IO[bytes] | IO[str] | None = None,
        string: str | bytes | None = None,
        encoding: str | None = None,
        base_url: str | PathLike[str] | None = None,
        url_fetcher: _URLFetcher | None = None,
        _check_mime_type: bool = False,
        media_type: str = "print",
        font_config: Any = None,
        counter_style: Any = None,
        color_profiles: Any = None,
        matcher: Any = None,
        page_rules: Any = None,
        layers: Any = None,
        layer: Any = None,
    ) -> None: ...

def __getattr__(name: str) -> Any: ...
