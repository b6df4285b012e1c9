"""The evaluation set: the dev set's integrity, bad lines, and the answer-correctness rule
(key facts) it is scored by."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.errors import LoadError
from assistant.eval.facts import key_facts
from assistant.eval.items import ClaimItem, QuestionItem, load_items
from tests.conftest import REPO
from tests.unit.test_evaluate import DEV, A, B


# ---- the dev set --------------------------------------------------------------------------
def test_dev_set_has_enough_items_of_every_kind() -> None:
    items = load_items(DEV)
    questions = [i for i in items if isinstance(i, QuestionItem)]
    claims = [i for i in items if isinstance(i, ClaimItem)]
    assert len(questions) >= 25 and len(claims) >= 25
    unanswerable = [q for q in questions if not q.answerable]
    assert len(unanswerable) >= 5
    assert all(not q.supporting_article_ids and not q.supporting_quotes for q in unanswerable)
    assert all(q.supporting_article_ids and q.supporting_quotes for q in questions if q.answerable)
    assert sum(1 for q in questions if q.history) >= 4  # follow-ups
    assert all(t.role in ("user", "assistant") for q in questions for t in q.history)
    labels = Counter(c.label for c in claims)
    assert min(labels[lab] for lab in ("supported", "contradicted", "unsupported")) >= 7
    ids = {A, B}
    for q in questions:
        assert set(q.supporting_article_ids) <= ids
        assert {x.article_id for x in q.supporting_quotes} <= set(q.supporting_article_ids)
    assert {c.article_id for c in claims} <= ids | {""}


def test_every_gold_answer_satisfies_its_own_key_facts() -> None:
    for q in load_items(DEV):
        if isinstance(q, QuestionItem) and q.answerable:
            facts = key_facts(q.answer, q.key_facts)
            assert facts, q.id
            assert all(f.found_in(q.answer) for f in facts), q.id


def test_every_quote_is_verbatim_in_the_cleaned_article() -> None:
    from assistant.ingest.load import load_inputs
    from assistant.ingest.pipeline import prepare

    settings = Settings(_env_file=None, corpus_dir=REPO / "corpus")
    articles = {}
    for raw in load_inputs([str(REPO / "corpus")], settings):
        assert not isinstance(raw, Exception), raw
        articles[raw.id] = prepare(raw).text
    assert {A, B} <= set(articles)
    for item in load_items(DEV):
        if isinstance(item, QuestionItem):
            pairs = [(x.article_id, x.quote) for x in item.supporting_quotes]
        else:
            pairs = [(item.article_id, item.evidence_quote)] if item.article_id else []
        for article_id, quote in pairs:
            assert quote in articles[article_id], (item.id, quote)


def test_bad_evaluation_lines_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"kind": "claim", "id": "c1", "claim": "x", "label": "true"}\n')
    with pytest.raises(LoadError, match=r"bad.jsonl:1"):
        load_items(path)
    path.write_text('{"kind": "question", "id": "q", "question": "?", "answer": "a"}\n' * 2)
    with pytest.raises(LoadError, match="duplicate id"):
        load_items(path)


# ---- the answer-correctness rule ---------------------------------------------------------
@pytest.mark.parametrize(
    ("gold", "answer", "ok"),
    [
        ("3,000 tonnes a year.", "They target a 3,000-tonne plant [1].", True),
        ("3,000 tonnes a year.", "They target 3000 t of magnets [1].", True),
        ("3,000 tonnes a year.", "They target 5,000 tonnes [1].", False),
        ("3,000 tonnes a year.", "They target 3,000 magnets [1].", False),  # unit lost
        ("16.1 million tonnes.", "About 16,100,000 tonnes [1].", True),
        ("Over RM800 billion.", "They are worth over RM 800bn [1].", True),
        ("Over RM800 billion.", "They are worth US$800 billion [1].", False),  # currency
        ("Lynas and JS Link.", "Lynas Rare Earths and JS Link [1].", True),
        ("Lynas and JS Link.", "Lynas and a Korean firm [1].", False),
        ("July.", "The memorandum was signed in July [1].", True),
        ("A China-plus-one model.", "It creates a China plus one model [1].", True),
        ("Yesterday.", "REEx tracked it yesterday [1].", True),
    ],
)
def test_key_fact_rule(gold: str, answer: str, ok: bool) -> None:
    facts = key_facts(gold)
    assert all(f.found_in(answer) for f in facts) is ok


def test_sentence_openers_are_not_names() -> None:
    assert [f.text for f in key_facts("Near the Kuantan facility of Lynas.")] == [
        "Kuantan",
        "Lynas",
    ]
    assert [f.kind for f in key_facts("This week.")] == ["word"]
