"""Evaluation items: the records of an evaluation JSONL file and their parser.

``load_items(path) -> [QuestionItem | ClaimItem, ...]``, one JSON object per line:

- ``{"kind": "question", "id", "question", "answer", "supporting_article_ids": [...],
  "supporting_quotes": [{"article_id", "quote"}]}``; an unanswerable question has the gold
  answer :data:`UNANSWERABLE_GOLD` and no supporting ids. Optional: ``"history"`` (earlier
  turns, ``[{"role": "user"|"assistant", "text"}]``, passed to ``Assistant.ask``),
  ``"key_facts"`` (replaces the automatic key facts), ``"tags"``, ``"paraphrase"`` (asked
  instead of ``question`` under ``--paraphrase``), ``"note"`` (kept, not scored).
- ``{"kind": "claim", "id", "claim", "label": "supported|contradicted|unsupported",
  "article_id", "evidence_quote"}``; the last two may be empty for a claim no article
  mentions. Optional: ``"perturbation"`` (how the claim was made), ``"note"``.

A bad line raises ``LoadError`` naming the file and line; ids must be unique.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.errors import LoadError
from assistant.eval.facts import normalize
from assistant.models import LABELS, Turn

# The gold answer of a question the sources cannot answer (compared after normalisation,
# trailing dot ignored). Not the chain's refusal token: this is the dataset's label.
UNANSWERABLE_GOLD = "not in the sources"

__all__ = [
    "UNANSWERABLE_GOLD",
    "ClaimItem",
    "Item",
    "QuestionItem",
    "Quote",
    "load_items",
    "parse_item",
]


@dataclass(frozen=True)
class Quote:
    article_id: str
    quote: str


@dataclass(frozen=True)
class QuestionItem:
    id: str
    question: str
    answer: str
    supporting_article_ids: tuple[str, ...] = ()
    supporting_quotes: tuple[Quote, ...] = ()
    history: tuple[Turn, ...] = ()
    key_facts: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    paraphrase: str = ""
    note: str = ""

    @property
    def answerable(self) -> bool:
        return normalize(self.answer).strip(" .") != UNANSWERABLE_GOLD


@dataclass(frozen=True)
class ClaimItem:
    id: str
    claim: str
    label: str
    article_id: str = ""
    evidence_quote: str = ""
    perturbation: str = ""
    note: str = ""


Item = QuestionItem | ClaimItem


def _strings(obj: dict[str, Any], key: str) -> tuple[str, ...]:
    """``_strings({"tags": ["a", 1]}, "tags") -> ("a", "1")``; a bare string is an error."""
    value = obj.get(key) or ()
    if isinstance(value, str | dict):
        raise ValueError(f"{key} must be a list")
    return tuple(str(v) for v in value)


def parse_item(obj: dict[str, Any]) -> Item:
    """One JSON object -> an item; ``ValueError`` when a required field is missing/wrong."""
    kind = obj.get("kind")
    if kind == "question":
        history = tuple(Turn(str(t["role"]), str(t["text"])) for t in obj.get("history") or ())
        for t in history:
            if t.role not in ("user", "assistant"):
                raise ValueError(f"history role must be user or assistant, not {t.role!r}")
        return QuestionItem(
            id=str(obj["id"]),
            question=str(obj["question"]),
            answer=str(obj["answer"]),
            supporting_article_ids=tuple(str(a) for a in obj.get("supporting_article_ids") or ()),
            supporting_quotes=tuple(
                Quote(str(q["article_id"]), str(q["quote"]))
                for q in obj.get("supporting_quotes") or ()
            ),
            history=history,
            key_facts=_strings(obj, "key_facts"),
            tags=_strings(obj, "tags"),
            paraphrase=str(obj.get("paraphrase") or ""),
            note=str(obj.get("note") or ""),
        )
    if kind == "claim":
        label = str(obj["label"])
        if label not in LABELS:
            raise ValueError(f"label must be one of {', '.join(LABELS)}, not {label!r}")
        return ClaimItem(
            id=str(obj["id"]),
            claim=str(obj["claim"]),
            label=label,
            article_id=str(obj.get("article_id") or ""),
            evidence_quote=str(obj.get("evidence_quote") or ""),
            perturbation=str(obj.get("perturbation") or ""),
            note=str(obj.get("note") or ""),
        )
    raise ValueError(f"kind must be 'question' or 'claim', not {kind!r}")


def load_items(path: Path) -> list[Item]:
    """Items of an evaluation JSONL file; ``LoadError`` names the file and line of a bad one."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise LoadError(str(path), f"cannot read: {exc.strerror or exc}") from exc
    items: list[Item] = []
    seen: set[str] = set()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = parse_item(json.loads(line))
        except (ValueError, KeyError, TypeError) as exc:
            raise LoadError(f"{path}:{n}", f"bad evaluation item: {exc}") from exc
        if item.id in seen:
            raise LoadError(f"{path}:{n}", f"duplicate id {item.id!r}")
        seen.add(item.id)
        items.append(item)
    return items
