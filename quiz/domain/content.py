"""The quiz content: `content/questions.yaml` loaded into the frozen, typed objects of the model.

The loader is strict on purpose. A coach edits the YAML by hand, so every mistake is reported with
the file and line it stands on, all at once, and nothing half-loaded ever reaches the app. The
types live in `quiz.domain.content_model`, the rules beyond the schema in
`quiz.domain.content_checks` (every version) and `quiz.domain.content_rules` (the current
version); this module reads a file, runs them and is the one place callers
import the content from (it re-exports the model). It knows nothing of Flask or the database.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from quiz.domain import content_cache
from quiz.domain.content_checks import SEED_ARTICLES, Loc, structural_errors
from quiz.domain.content_model import (
    MAX_POINTS,
    NOT_APPLICABLE_ID,
    WEAK_POINTS,
    Band,
    Choice,
    Clause,
    Condition,
    Content,
    Dimension,
    Option,
    Page,
    Question,
    ResultTexts,
    ScalePoint,
    Source,
    SourceRef,
    Tip,
)
from quiz.domain.content_rules import coverage_errors

# Callers import the whole content API from here: the model's names and the loader's.
__all__ = [
    "MAX_POINTS",
    "NOT_APPLICABLE_ID",
    "SEED_ARTICLES",
    "WEAK_POINTS",
    "Band",
    "Choice",
    "Clause",
    "Condition",
    "Content",
    "ContentError",
    "Dimension",
    "Option",
    "Page",
    "Question",
    "ResultTexts",
    "ScalePoint",
    "Source",
    "SourceRef",
    "Tip",
    "load_content",
    "load_versions",
    "parse_content",
]


class ContentError(Exception):
    """The content file is broken. `errors` holds one `PATH:LINE: message` string per problem."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = tuple(errors)
        super().__init__("\n".join(self.errors))


def load_content(
    path: str | Path, *, current: bool = True, cache_dir: Path | None = None
) -> Content:
    """Load and check a content file; raise ContentError listing every problem found.

    `current=False` loads an archived version with the rules of its time: the coverage rules of
    `content_rules.coverage_errors` were written later and apply to the current file only.
    With `cache_dir`, a file that passed before is read from there (`content_cache`).
    """
    path = Path(path)
    try:
        raw_bytes = path.read_bytes()
    except OSError as exc:
        raise ContentError([f"{path}: cannot read file: {exc.strerror or exc}"]) from exc
    parse = functools.partial(parse_content, current=current)
    return content_cache.cached(parse, raw_bytes, str(path), current=current, cache_dir=cache_dir)


def load_versions(
    current_path: str | Path, archive_dir: str | Path, *, cache_dir: Path | None = None
) -> dict[str, Content]:
    """Every archived version (`archive_dir/*.yaml`) plus the current file, by version.

    Stored results name the version they were scored with; this mapping renders each of them
    with its own questions and texts. Raises ContentError for any broken file or a version
    that occurs twice.
    """
    current = load_content(current_path, current=True, cache_dir=cache_dir)
    versions: dict[str, Content] = {}
    labels: dict[str, str] = {}
    errors: list[str] = []
    for path in sorted(Path(archive_dir).glob("*.yaml")):
        try:
            archived = load_content(path, current=False, cache_dir=cache_dir)
        except ContentError as exc:
            errors.extend(exc.errors)
            continue
        if archived.version in versions or archived.version == current.version:
            other = labels.get(archived.version, str(current_path))
            errors.append(f"{path}:1: version {archived.version!r} is also used by {other}")
            continue
        versions[archived.version] = archived
        labels[archived.version] = str(path)
    if errors:
        raise ContentError(errors)
    versions[current.version] = current
    return versions


# Memoised by the file's bytes: every app a process builds (each test builds one) shares the parsed,
# frozen content, and an edited file is parsed again. A broken file raises every time (errors are
# not cached), so start-up still refuses it.
@functools.lru_cache(maxsize=32)
def parse_content(raw_bytes: bytes, label: str, *, current: bool = True) -> Content:
    """Parse content from bytes; `label` names the file in error messages."""
    try:
        text = raw_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContentError([f"{label}: not valid UTF-8 (byte {exc.start})"]) from exc

    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        tree = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        raise ContentError([f"{label}:{line}: {problem or 'invalid YAML'}"]) from exc
    except YAMLError as exc:
        raise ContentError([f"{label}: invalid YAML: {exc}"]) from exc
    if not isinstance(tree, CommentedMap):
        raise ContentError([f"{label}:1: the file must be a mapping with version, dimensions, ..."])

    locate = _Locator(tree, label)
    errors: list[tuple[int, str]] = []
    content: Content | None = None
    try:
        content = Content.model_validate(_plain(tree))
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            loc = tuple(error["loc"])
            errors.append((locate.line(loc), f"{_dotted(loc)}: {error['msg']}"))
    errors.extend((locate.line(loc), message) for loc, message in structural_errors(_plain(tree)))
    if content is not None and not errors and current:
        errors.extend((locate.line(loc), message) for loc, message in coverage_errors(content))
    if errors or content is None:
        unique = sorted(set(errors))
        raise ContentError([f"{label}:{line}: {message}" for line, message in unique])
    digest = hashlib.sha256(raw_bytes).hexdigest()
    return content.model_copy(update={"sha256": digest})


class _Locator:
    """Maps a path inside the document to the line it stands on, using ruamel's position marks."""

    def __init__(self, tree: CommentedMap, label: str) -> None:
        self.tree = tree
        self.label = label

    def line(self, loc: Loc) -> int:
        """The 1-based line of the deepest node of `loc` that exists in the document."""
        node: Any = self.tree
        line = 0
        for part in loc:
            if isinstance(node, CommentedMap) and part in node:
                line = node.lc.key(part)[0]
                node = node[part]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
                line = node.lc.item(part)[0]
                node = node[part]
            else:
                if isinstance(node, CommentedMap | CommentedSeq):
                    line = max(line, node.lc.line)
                break
        return line + 1


def _plain(node: Any) -> Any:
    """ruamel's round-trip nodes as plain Python: dicts, tuples, str, int, float, bool, None."""
    if isinstance(node, Mapping):
        return {str(key): _plain(value) for key, value in node.items()}
    if isinstance(node, list | tuple):
        return tuple(_plain(value) for value in node)
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def _dotted(loc: Loc) -> str:
    """('pages', 0, 'questions', 2) -> 'pages[0].questions[2]' for messages a person reads."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in {"all", "any"} and text.endswith("when"):
            text += f".{part}"
        elif part.startswith(("function-", "tagged-union")) or part in {"int", "str", "float"}:
            continue
        else:
            text += f".{part}" if text else part
    return text or "(top level)"
