"""The consent texts a taker agrees to, versioned and hashed so each consent can be proven."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from quiz.domain.content import ContentError

CONSENT_KINDS = ("data", "marketing")


@dataclass(frozen=True)
class ConsentTexts:
    """The texts shown next to the consent checkboxes, and the version they belong to."""

    version: str
    data: str
    marketing: str

    def text_of(self, kind: str) -> str:
        """The text of one consent kind."""
        return self.data if kind == "data" else self.marketing

    def hash_of(self, kind: str) -> str:
        """SHA-256 of the exact text shown for one consent kind."""
        return hashlib.sha256(self.text_of(kind).encode("utf-8")).hexdigest()


def load_consent_texts(path: str | Path) -> ConsentTexts:
    """Load `content/consent.yaml`; raise ContentError naming the file and the problem."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ContentError([f"{path}: {exc}"]) from exc
    return _parse_consent_texts(raw, str(path))


# Memoised by the text, like the quiz content: each app of a process shares the frozen result.
@functools.lru_cache(maxsize=16)
def _parse_consent_texts(raw: str, path: str) -> ConsentTexts:
    try:
        data = YAML(typ="safe").load(raw)
    except YAMLError as exc:
        raise ContentError([f"{path}: {exc}"]) from exc
    if not isinstance(data, dict):
        raise ContentError([f"{path}:1: expected a mapping with version, data and marketing"])
    errors = [
        f"{path}: '{key}' must be a non-empty text"
        for key in ("version", *CONSENT_KINDS)
        if not isinstance(data.get(key), str) or not data[key].strip()
    ]
    errors += [
        f"{path}: unknown key '{key}'" for key in data if key not in ("version", *CONSENT_KINDS)
    ]
    if errors:
        raise ContentError(errors)
    return ConsentTexts(
        version=data["version"].strip(),
        data=data["data"].strip(),
        marketing=data["marketing"].strip(),
    )
