"""HTML to PDF in a process of its own, at low priority, a few at a time per machine.

Gunicorn runs sync workers: a worker that spent a second in WeasyPrint would serve no quiz page
for that second, and ten first downloads at once would stall every worker. So a worker only
hands the finished HTML (and the chart's bars) to a small process pool and goes back to serving;
the pool's process is niced, so quiz requests win the CPU, and a lock file per slot in the
instance folder keeps the number of renders running on the machine at `slots`, however many
workers there are. The process loads nothing from outside: the chart and the logo come with the
job, and every other URL in the HTML is refused.

A render process lives as long as its pool, so what does not change from one PDF to the next is
made once per process, not per PDF: WeasyPrint's font configuration (Fontconfig's fonts, Pango's
font map and its caches) and the parsed stylesheet, kept per stylesheet text. The stylesheet's text
carries the brand colour it was queued with, so a PDF of another brand gets a stylesheet of its own
and never one parsed for another (tests/test_report_pdf_render.py).

The process is spawned, not forked (the web worker's connections and threads stay behind), so
like any spawned process it imports the program's main module again: gunicorn, flask, pytest and
the benchmarks guard theirs with `if __name__ == "__main__"`; a script that renders must too.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import gc
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from quiz.charts import Bar
from quiz.charts_svg import score_chart_svg
from quiz.domain.progress import DimensionChange
from quiz.progress_chart import progress_chart_svg

if TYPE_CHECKING:
    from weasyprint import CSS
    from weasyprint.text.fonts import FontConfiguration
    from weasyprint.urls import URLFetcher

T = TypeVar("T")

# The HTML refers to the job's own resources by these URLs (see templates/pdf/pdf.html).
CHART_URL = "report:chart.svg"
# A re-assessment's before-and-after chart (issue 24).
PROGRESS_URL = "report:progress.svg"
LOGO_URL = "report:logo"
# PDF/UA-1: a tagged PDF (structure tree, alternative texts, language, title shown).
PDF_VARIANT = "pdf/ua-1"
PR_SET_PDEATHSIG = 1  # Linux prctl(2): a signal for this process when its parent dies
# Parsed stylesheets kept per render process: one per brand colour in use, so a few.
STYLESHEETS_KEPT = 8


@dataclass(frozen=True)
class RenderJob:
    """Everything a render needs; plain data, so it crosses into the pool's process."""

    html: str
    css: str
    bars: tuple[Bar, ...]
    logo: bytes | None = None
    logo_type: str | None = None
    lock_dir: str | None = None
    slots: int = 1
    # A re-assessment's before and after, charted as PROGRESS_URL (none for a first quiz).
    progress_rows: tuple[DimensionChange, ...] = ()


@dataclass(frozen=True)
class Rendered:
    """A finished PDF and how long WeasyPrint and the chart took (lock waiting not counted)."""

    pdf: bytes
    render_ms: int


def render_pdf(job: RenderJob) -> Rendered:
    """One PDF: the chart as SVG (vector), fonts embedded, tagged."""
    from weasyprint import HTML  # imported here: only the pool's process needs it

    _end_with_parent()
    with _machine_slot(job.lock_dir, job.slots):
        started = time.perf_counter()
        resources = {CHART_URL: (score_chart_svg(job.bars), "image/svg+xml")}
        if job.progress_rows:
            resources[PROGRESS_URL] = (progress_chart_svg(job.progress_rows), "image/svg+xml")
        if job.logo is not None and job.logo_type:
            resources[LOGO_URL] = (job.logo, job.logo_type)
        fetcher = _fetcher(resources)
        kept = _kept()
        pdf = HTML(string=job.html, url_fetcher=fetcher).write_pdf(
            stylesheets=[kept.stylesheet(job.css)],
            font_config=kept.font_config,
            pdf_variant=PDF_VARIANT,
            pdf_tags=True,
        )
        rendered = Rendered(pdf=pdf, render_ms=round((time.perf_counter() - started) * 1000))
    _settle()
    return rendered


class _Kept:
    """What a render process keeps from one PDF to the next: the font configuration and the
    parsed stylesheets (the most recently used few, by their text)."""

    def __init__(self) -> None:
        from weasyprint.text.fonts import FontConfiguration

        self.font_config: FontConfiguration = FontConfiguration()
        self._stylesheets: dict[str, CSS] = {}

    def stylesheet(self, css: str) -> CSS:
        """The stylesheet parsed from `css`, parsed once per process while it is in use."""
        from weasyprint import CSS

        sheet = self._stylesheets.pop(css, None)
        if sheet is None:
            # It loads nothing (no url() or @import in templates/pdf/pdf.css): a fetcher that
            # knows no resource refuses any, so a kept stylesheet holds nothing of one job.
            sheet = CSS(string=css, url_fetcher=_fetcher({}), font_config=self.font_config)
            while len(self._stylesheets) >= STYLESHEETS_KEPT:
                self._stylesheets.pop(next(iter(self._stylesheets)))  # the least recently used
        self._stylesheets[css] = sheet  # last in order: the most recently used
        return sheet


# Per thread: Pango's font map is not shared between threads (a render process has one thread;
# a test or benchmark that renders in its own process may have more).
_KEPT = threading.local()


def _kept() -> _Kept:
    kept: _Kept | None = getattr(_KEPT, "kept", None)
    if kept is None:
        kept = _KEPT.kept = _Kept()
    return kept


def _fetcher(resources: dict[str, tuple[bytes, str]]) -> URLFetcher:
    """A URL fetcher that knows only this job's resources: no file, no network."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class JobResources(URLFetcher):
        def fetch(self, url: str, headers: Mapping[str, str] | None = None) -> URLFetcherResponse:
            if url not in resources:
                raise ValueError(f"the PDF loads nothing from outside: {url[:80]}")
            body, mime_type = resources[url]
            return URLFetcherResponse(url, body, {"Content-Type": mime_type})

    return JobResources(allowed_protocols=("report",))


@contextlib.contextmanager
def _machine_slot(lock_dir: str | None, slots: int) -> Iterator[None]:
    """Hold one of `slots` lock files in `lock_dir`: at most that many renders per machine.

    flock locks go with the process, so a render that dies frees its slot.
    """
    if lock_dir is None:
        yield
        return
    Path(lock_dir).mkdir(parents=True, exist_ok=True)
    paths = [Path(lock_dir) / f"report-render-{slot}.lock" for slot in range(max(1, slots))]
    files = [path.open("a") for path in paths]
    try:
        held = next((f for f in files if _try_lock(f)), None)
        if held is None:
            held = files[os.getpid() % len(files)]
            fcntl.flock(held, fcntl.LOCK_EX)  # wait for that slot
        try:
            yield
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)
    finally:
        for file in files:
            file.close()


def _try_lock(file: Any) -> bool:
    try:
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _end_with_parent() -> None:
    """End this process with its web worker, even one killed outright (Linux prctl(2))."""
    global _TIED_TO_PARENT
    if _TIED_TO_PARENT or multiprocessing.parent_process() is None:  # not a pool process
        return
    _TIED_TO_PARENT = True
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


_TIED_TO_PARENT = False


def _settle() -> None:
    """After a render process's first PDF, freeze what it keeps for good out of the garbage
    collector's way (gc.freeze): the modules of the app, matplotlib and WeasyPrint, the fonts and
    the stylesheet. Left in the collector's oldest generation, every full collection walked them
    all, about 150 ms every third PDF; frozen, a full collection walks only what later PDFs left."""
    global _SETTLED
    if _SETTLED or multiprocessing.parent_process() is None:  # not a pool process
        return
    _SETTLED = True
    gc.collect()
    gc.freeze()


_SETTLED = False


def _warm() -> int:
    """In a render process: load what every render needs (WeasyPrint, Pango and the fonts) by
    rendering a line of text, so the first real PDF costs what the others do; its pid."""
    from weasyprint import HTML

    _end_with_parent()
    HTML(string="<p>Ihre Engpass-Analyse</p>").write_pdf(
        font_config=_kept().font_config, pdf_variant=PDF_VARIANT, pdf_tags=True
    )
    return os.getpid()


class _Pool:
    """`size` render processes (one per web worker; the background renderer's several), started
    on first use (after gunicorn's fork), and started afresh when one died."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None
        self._pid: int | None = None

    def submit(self, job: RenderJob, nice: int) -> Future[Rendered]:
        return self._call(nice, render_pdf, job)

    def warm_up(self, nice: int) -> list[Future[int]]:
        """Start every render process now, each loading what a render needs (`_warm`)."""
        return [self._call(nice, _warm) for _ in range(self._size)]

    def _call(self, nice: int, function: Callable[..., T], *args: Any) -> Future[T]:
        with self._lock:
            for attempt in (1, 2):
                try:
                    return self._get(nice).submit(function, *args)
                except BrokenProcessPool:  # the process died (killed, out of memory): a new one
                    self._executor = None
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    def _get(self, nice: int) -> ProcessPoolExecutor:
        if self._executor is None or self._pid != os.getpid():
            # spawn, not fork: the parent's database connections and threads stay behind.
            self._executor = ProcessPoolExecutor(
                max_workers=self._size,
                mp_context=multiprocessing.get_context("spawn"),
                # os.nice itself, so the process is niced before it imports anything of ours
                # (importing the app and WeasyPrint costs more CPU than a render).
                initializer=os.nice,
                initargs=(nice,),
            )
            self._pid = os.getpid()
        return self._executor

    def shutdown(self) -> None:
        """End the render processes now, renders in progress included."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is None:
            return
        # The executor's own shutdown waits for running renders; a stopping renderer has
        # given their claims back, so they are ended instead.
        for process in list((getattr(executor, "_processes", None) or {}).values()):
            with contextlib.suppress(OSError, ValueError):
                process.terminate()
        executor.shutdown(wait=False, cancel_futures=True)


_POOLS: dict[int, _Pool] = {}
_POOLS_LOCK = threading.Lock()


def _pool(processes: int) -> _Pool:
    """This process's pool of `processes` render processes."""
    with _POOLS_LOCK:
        return _POOLS.setdefault(max(1, processes), _Pool(max(1, processes)))


def submit(job: RenderJob, nice: int = 19, processes: int = 1) -> Future[Rendered]:
    """Render in this process's pool of `processes` niced render processes; the future resolves
    to the PDF."""
    return _pool(processes).submit(job, nice)


def warm_up(nice: int = 19, processes: int = 1) -> list[Future[int]]:
    """Start the pool of `processes` render processes before the first PDF is asked for, each
    loading WeasyPrint and the fonts (a few seconds of CPU, niced); the futures resolve to their
    pids. The background renderer does this when it starts, so the PDFs of the first takers
    after a start are not late behind those imports."""
    return _pool(processes).warm_up(nice)


def shutdown() -> None:
    """End every render process of this process (a background renderer that stops)."""
    with _POOLS_LOCK:
        pools = list(_POOLS.values())
    for pool in pools:
        pool.shutdown()
