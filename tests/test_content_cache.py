"""Checked content kept between processes (quiz.domain.content_cache): read back only for the
very bytes, rules and loader code it was checked with; a broken file is never stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from quiz.domain import content_cache
from quiz.domain.content import Content, ContentError, load_content, load_versions, parse_content
from quiz.paths import resource_dir

CONTENT = resource_dir("content")
QUESTIONS = CONTENT / "questions.yaml"


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts as a process that has read nothing yet."""
    another_process(monkeypatch)


def another_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget what this process has read: the next read is a new process's, from the folder."""
    monkeypatch.setattr(content_cache, "_read", {})


class CountingParser:
    """parse_content, counting its calls."""

    def __init__(self, current: bool = True) -> None:
        self.calls = 0
        self.current = current

    def __call__(self, raw_bytes: bytes, label: str) -> Content:
        self.calls += 1
        return parse_content(raw_bytes, label, current=self.current)


def test_every_shipped_version_reads_back_equal_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed = load_versions(QUESTIONS, CONTENT / "archive")
    first = load_versions(QUESTIONS, CONTENT / "archive", cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.json"))) == len(parsed) >= 3
    another_process(monkeypatch)
    again = load_versions(QUESTIONS, CONTENT / "archive", cache_dir=tmp_path)
    assert first == again == parsed
    for version, content in again.items():
        assert content.sha256 == parsed[version].sha256
        assert content.dimension_by_id.keys() == parsed[version].dimension_by_id.keys()


def test_the_same_bytes_are_parsed_once_and_other_bytes_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = QUESTIONS.read_bytes()
    parser = CountingParser()
    first = content_cache.cached(parser, raw, "q.yaml", current=True, cache_dir=tmp_path)
    assert content_cache.cached(parser, raw, "q.yaml", current=True, cache_dir=tmp_path) is first
    another_process(monkeypatch)
    second = content_cache.cached(parser, raw, "q.yaml", current=True, cache_dir=tmp_path)
    assert parser.calls == 1 and first == second
    # An edited file (a comment added) is another key: parsed and checked again.
    edited = raw + b"\n# edited\n"
    third = content_cache.cached(parser, edited, "q.yaml", current=True, cache_dir=tmp_path)
    assert parser.calls == 2 and third.sha256 != first.sha256
    # The archived rules are another key too: a file that passed them may fail the current ones.
    archived = CountingParser(current=False)
    content_cache.cached(archived, raw, "q.yaml", current=False, cache_dir=tmp_path)
    assert archived.calls == 1


def test_other_loader_code_is_another_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = QUESTIONS.read_bytes()
    parser = CountingParser()
    content_cache.cached(parser, raw, "q.yaml", current=True, cache_dir=tmp_path)
    another_process(monkeypatch)
    monkeypatch.setattr(content_cache, "loader_fingerprint", lambda: "a changed checker")
    content_cache.cached(parser, raw, "q.yaml", current=True, cache_dir=tmp_path)
    assert parser.calls == 2


def test_a_broken_file_is_refused_every_time_and_never_stored(tmp_path: Path) -> None:
    broken = tmp_path / "questions.yaml"
    broken.write_text(QUESTIONS.read_text(encoding="utf-8").replace("version:", "versio:", 1))
    cache = tmp_path / "cache"
    for _ in range(2):
        with pytest.raises(ContentError) as refused:
            load_content(broken, cache_dir=cache)
        assert f"{broken}:" in str(refused.value)
    assert not list(cache.glob("*.json"))


def test_a_damaged_or_foreign_entry_is_parsed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = QUESTIONS.read_bytes()
    parser = CountingParser()
    content_cache.cached(parser, raw, "q.yaml", current=True, cache_dir=tmp_path)
    (entry,) = tmp_path.glob("*.json")
    entry.write_bytes(entry.read_bytes()[:1000])  # cut short, as by a full disk
    another_process(monkeypatch)
    repaired = content_cache.cached(parser, raw, "q.yaml", current=True, cache_dir=tmp_path)
    assert parser.calls == 2 and repaired == parse_content(raw, "q.yaml")
    # Another file's content under this key (copied by hand, say) is not taken for this one.
    other = parse_content((CONTENT / "archive" / "2026.1.yaml").read_bytes(), "a", current=False)
    entry.write_text(other.model_dump_json(), encoding="utf-8")
    another_process(monkeypatch)
    assert content_cache.cached(parser, raw, "q.yaml", current=True, cache_dir=tmp_path) == (
        repaired
    )
    assert parser.calls == 3


def test_an_unwritable_cache_only_means_parsing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the folder would go")
    parser = CountingParser()
    raw = QUESTIONS.read_bytes()
    for _ in range(2):
        another_process(monkeypatch)
        content = content_cache.cached(parser, raw, "q.yaml", current=True, cache_dir=blocked)
        assert content == parse_content(raw, "q.yaml")
    assert parser.calls == 2


def test_the_default_folder_is_the_users_cache() -> None:
    assert content_cache.default_cache_dir({"XDG_CACHE_HOME": "/var/cache/x"}) == Path(
        "/var/cache/x/engpass-quiz/content"
    )
    assert content_cache.default_cache_dir({}) == Path.home() / ".cache/engpass-quiz/content"
