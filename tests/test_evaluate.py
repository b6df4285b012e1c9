"""The evaluation harness: dev set integrity, scoring rules, the run, the CLI.

Fast tests use a small fake Assistant (canned answers over real corpus chunks); the slow
test runs ``assistant eval`` for real over ``corpus/`` with the extractive backend.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from assistant import evaluate as ev
from assistant.config import Settings
from assistant.errors import LoadError
from assistant.models import (
    Answer,
    CheckReport,
    Chunk,
    Claim,
    Evidence,
    IngestResult,
    Passage,
    Source,
    Verdict,
)

REPO = Path(__file__).resolve().parent.parent
DEV = REPO / "eval" / "dev.jsonl"
A = "000_b2982247c88755c3"
B = "003_189b76db5b34766f"


# ---- the dev set --------------------------------------------------------------------------
def test_dev_set_has_enough_items_of_every_kind() -> None:
    items = ev.load_items(DEV)
    questions = [i for i in items if isinstance(i, ev.QuestionItem)]
    claims = [i for i in items if isinstance(i, ev.ClaimItem)]
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
    for q in ev.load_items(DEV):
        if isinstance(q, ev.QuestionItem) and q.answerable:
            facts = ev.key_facts(q.answer, q.key_facts)
            assert facts, q.id
            assert all(f.found_in(q.answer) for f in facts), q.id


def test_every_quote_is_verbatim_in_the_cleaned_article() -> None:
    from assistant.ingest.loaders import load_inputs
    from assistant.ingest.pipeline import prepare

    settings = Settings(_env_file=None, corpus_dir=REPO / "corpus")
    articles = {}
    for raw in load_inputs([str(REPO / "corpus")], settings):
        assert not isinstance(raw, Exception), raw
        articles[raw.id] = prepare(raw).text
    assert {A, B} <= set(articles)
    for item in ev.load_items(DEV):
        if isinstance(item, ev.QuestionItem):
            pairs = [(x.article_id, x.quote) for x in item.supporting_quotes]
        else:
            pairs = [(item.article_id, item.evidence_quote)] if item.article_id else []
        for article_id, quote in pairs:
            assert quote in articles[article_id], (item.id, quote)


def test_bad_evaluation_lines_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"kind": "claim", "id": "c1", "claim": "x", "label": "true"}\n')
    with pytest.raises(LoadError, match=r"bad.jsonl:1"):
        ev.load_items(path)
    path.write_text('{"kind": "question", "id": "q", "question": "?", "answer": "a"}\n' * 2)
    with pytest.raises(LoadError, match="duplicate id"):
        ev.load_items(path)


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
    facts = ev.key_facts(gold)
    assert all(f.found_in(answer) for f in facts) is ok


def test_sentence_openers_are_not_names() -> None:
    assert [f.text for f in ev.key_facts("Near the Kuantan facility of Lynas.")] == [
        "Kuantan",
        "Lynas",
    ]
    assert [f.kind for f in ev.key_facts("This week.")] == ["word"]


# ---- a fake assistant over real corpus text --------------------------------------------------
def _chunk(article_id: str, index: int, text: str) -> Chunk:
    return Chunk(
        id=f"{article_id}:h:{index}", article_id=article_id, index=index, text=text,
        start=0, end=len(text), section="", role="report", title=article_id,
    )


CH_A = _chunk(A, 0, "The deal builds on the July memorandum between Lynas Rare Earths Ltd and "
                    "South Korea's JS Link, which targets 3,000 tonnes of neodymium-iron-boron "
                    "(NdFeB) magnets annually near Lynas's Kuantan facility.")
CH_B = _chunk(B, 0, "Reports suggest China and Malaysia are in preliminary talks, with "
                    "Khazanah Nasional tipped as the local partner. First scooped by Reuters.")


def _verdict(label: str, chunk: Chunk | None = None, cited_ok: bool = True) -> Verdict:
    evidence = ()
    if chunk is not None:
        evidence = (Evidence(chunk.id, chunk.article_id, chunk.text[:20], 0, 20),)
    return Verdict(label=label, confidence=0.9, evidence=evidence, method="fake",
                   cited_ok=cited_ok)


class FakeAssistant:
    """Canned answers keyed by question; canned verdicts keyed by claim text."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings(_env_file=None, backend="extractive")
        self.asked: list[tuple[str, tuple, str | None]] = []
        self.ingested: list[str] = []

    def ingest(self, inputs, prune=False, progress=None):  # type: ignore[no-untyped-def]
        self.ingested += list(inputs)
        return IngestResult(added=(A, B))

    def ask(self, question, history=(), filters=None, backend=None):  # type: ignore[no-untyped-def]
        self.asked.append((question, tuple(history), backend))
        sources = [Source(1, Passage(CH_B, 0.5)), Source(2, Passage(CH_A, 0.4))]
        timings = {"retrieve": 0.01, "generate": 0.2, "verify": 0.05}
        if "tonnes" in question:  # right fact; cites [2] (precise) and [1] (not)
            return Answer(
                question=question, text="The memorandum targets 3,000 tonnes a year [2][1].",
                claims=[Claim("The memorandum targets 3,000 tonnes a year [2][1].", [2, 1],
                              _verdict("supported", CH_A))],
                sources=sources, backend="fake", timings=timings,
            )
        if "partner" in question:  # wrong name, one uncited flagged sentence
            return Answer(
                question=question, text="Temasek is the partner [1]. It is huge.",
                claims=[Claim("Temasek is the partner [1].", [1], _verdict("contradicted", CH_B)),
                        Claim("It is huge.", [], _verdict("unsupported"))],
                sources=sources, backend="fake", timings=timings,
            )
        return Answer(question=question, text="The sources do not say.", abstained=True,
                      sources=sources, backend="fake", timings=timings)

    def check(self, text, filters=None):  # type: ignore[no-untyped-def]
        label = {"s": "supported", "c": "contradicted", "u": "unsupported"}[text[0]]
        chunk = CH_A if "A" in text else None
        return CheckReport(text=text, claims=[Claim(text, [], _verdict(label, chunk))],
                           timings={"retrieve": 0.01, "verify": 0.3})


def _items() -> list[ev.Item]:
    return [
        ev.QuestionItem("q1", "How many tonnes?", "3,000 tonnes a year.", (A,),
                        (ev.Quote(A, "targets 3,000 tonnes of neodymium-iron-boron"),)),
        ev.QuestionItem("q2", "Who is the local partner?", "Khazanah Nasional.", (B,),
                        (ev.Quote(B, "Khazanah Nasional tipped as the local partner"),)),
        ev.QuestionItem("q3", "What is the CEO's name?", "not in the sources"),
        ev.QuestionItem("q4", "Which month?", "July.", (A,), (ev.Quote(A, "July memorandum"),),
                        history=(ev.Turn("user", "Who?"), ev.Turn("assistant", "Lynas [1]."))),
        ev.ClaimItem("c1", "s claim A", "supported", A, "x"),
        ev.ClaimItem("c2", "c claim", "contradicted", B, "x"),  # predicted right, no evidence
        ev.ClaimItem("c3", "s claim", "unsupported"),  # predicted supported: a false positive
        ev.ClaimItem("c4", "u claim A", "contradicted", A, "x"),
    ]


def test_evaluate_scores_the_fake_run() -> None:
    fake = FakeAssistant()
    seen: list[ev.EvalProgress] = []
    report = ev.evaluate(fake, _items(), backend="extractive", progress=seen.append)
    assert [p.done for p in seen] == list(range(1, 9)) and seen[-1].total == 8
    assert fake.asked[3][1] == (ev.Turn("user", "Who?"), ev.Turn("assistant", "Lynas [1]."))
    assert fake.asked[0][2] == "extractive"
    qm = report.question_metrics
    assert qm["answerable"] == 3 and qm["unanswerable"] == 1
    # ranked articles are [B, A]: q1 and q4 rank A second, q2 ranks B first
    assert qm["recall_at_5"] == pytest.approx(1.0)
    assert qm["mrr"] == pytest.approx((0.5 + 1.0 + 0.5) / 3)
    assert qm["answer_correct"] == pytest.approx(1 / 3)  # q1 right, q2 wrong, q4 refused
    assert qm["abstain_rate"] == pytest.approx(1.0)
    assert qm["false_refusal_rate"] == pytest.approx(1 / 3)
    # q1 cites [1] (B: no quote, no fact) and [2] (A: quote) -> 1/2; q2 cites [1] (B: quote) -> 1/1
    assert qm["citation_precision"] == pytest.approx(2 / 3)
    assert qm["citation_recall"] == pytest.approx(2 / 3)  # "It is huge." has no citation
    assert qm["flagged_share"] == pytest.approx(2 / 3)
    cm = report.claim_metrics
    assert cm["confusion"]["supported"]["supported"] == 1
    assert cm["confusion"]["contradicted"]["contradicted"] == 1
    assert cm["confusion"]["contradicted"]["unsupported"] == 1
    assert cm["confusion"]["unsupported"]["supported"] == 1
    # TPR 1/1, TNR 2/3
    assert cm["balanced_accuracy"] == pytest.approx((1 + 2 / 3) / 2)
    assert cm["evidence_hit"] == pytest.approx(2 / 3)  # c1 and c4 hit A, c2 returns nothing
    lat = report.latency
    assert lat["question"]["generate"]["median_s"] == pytest.approx(0.2)
    assert lat["claim"]["verify"]["p95_s"] == pytest.approx(0.3)
    assert {"total", "retrieve", "generate", "verify"} <= set(lat["question"])
    table = ev.summary_table(report)
    for word in ("recall@5", "MRR", "balanced accuracy", "p95", "contradicted", "citation"):
        assert word in table
    assert len(table.splitlines()) < 45  # one screen
    data = json.loads(json.dumps(report.to_dict()))
    assert len(data["questions"]) == 4 and len(data["claims"]) == 4
    assert data["questions"][0]["facts_found"] == ["3,000 tonnes"]


def test_limit_keeps_first_questions_and_claims() -> None:
    report = ev.evaluate(FakeAssistant(), _items(), limit=1)
    assert [q.id for q in report.questions] == ["q1"] and [c.id for c in report.claims] == ["c1"]


def test_assistant_errors_are_recorded_and_the_run_goes_on() -> None:
    from assistant.errors import GenerationError

    class Failing(FakeAssistant):
        def ask(self, question, history=(), filters=None, backend=None):  # type: ignore[no-untyped-def]
            if "tonnes" in question:
                raise GenerationError("backend down")
            return super().ask(question, history, filters, backend)

    report = ev.evaluate(Failing(), _items())
    assert report.questions[0].error.startswith("GenerationError")
    assert report.question_metrics["errors"] == 1 and len(report.questions) == 4


def test_temporary_assistant_never_uses_index_or_server(tmp_path: Path) -> None:
    made: list[Settings] = []

    def factory(s: Settings) -> FakeAssistant:
        made.append(s)
        return FakeAssistant(s)

    base = Settings(_env_file=None, index_dir=tmp_path / "mine", chroma_host="10.0.0.1")
    with ev.temporary_assistant(base, ["corpus"], factory=factory) as a:
        assert a.ingested == ["corpus"]
        tmp_index = made[0].index_dir
        assert tmp_index.parent.exists() and made[0].chroma_host is None
        assert tmp_index != base.index_dir
    assert not tmp_index.parent.exists()


def test_cli_eval_prints_table_and_writes_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from assistant import cli

    monkeypatch.setattr(cli, "Assistant", FakeAssistant)
    monkeypatch.setattr("assistant.service.Assistant", FakeAssistant)
    path = tmp_path / "e.jsonl"
    path.write_text(
        "\n".join(
            json.dumps(d)
            for d in [
                {"kind": "question", "id": "q1", "question": "How many tonnes?",
                 "answer": "3,000 tonnes", "supporting_article_ids": [A],
                 "supporting_quotes": [{"article_id": A, "quote": "3,000 tonnes"}]},
                {"kind": "claim", "id": "c1", "claim": "s claim A", "label": "supported",
                 "article_id": A, "evidence_quote": "x"},
            ]
        )
    )
    out = tmp_path / "report.json"
    code = cli.main(["--index", str(tmp_path / "idx"), "eval", str(path), "--corpus", "corpus",
                     "--backend", "extractive", "--out", str(out), "-q"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "recall@5" in printed and "balanced accuracy" in printed
    data = json.loads(out.read_text())
    assert data["question_metrics"]["answer_correct"] == 1.0
    assert data["claim_metrics"]["balanced_accuracy"] is None  # no negative claims
    assert data["meta"]["corpus"] == ["corpus"]
    assert not (tmp_path / "idx").exists()


def test_cli_eval_bad_file_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from assistant import cli

    code = cli.main(["--index", str(tmp_path / "idx"), "eval", str(tmp_path / "missing.jsonl")])
    assert code == 1
    assert "missing.jsonl" in capsys.readouterr().err


# ---- the real thing ----------------------------------------------------------------------------
@pytest.mark.slow
def test_assistant_eval_runs_for_real_over_corpus(tmp_path: Path) -> None:
    """``assistant eval`` on the first 6 questions and 6 claims of the dev set, extractive."""
    out = tmp_path / "report.json"
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False", "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "ASSISTANT_INDEX_DIR": str(tmp_path / "user-index")}
    proc = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "eval", str(DEV), "--corpus", str(REPO / "corpus"),
         "--backend", "extractive", "--limit", "6", "--out", str(out), "-q"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for word in ("QUESTIONS", "recall@5", "MRR", "CLAIMS", "balanced accuracy", "LATENCY"):
        assert word in proc.stdout
    data = json.loads(out.read_text())
    qm, cm = data["question_metrics"], data["claim_metrics"]
    assert qm["n"] == 6 and cm["n"] == 6 and qm["errors"] == 0 and cm["errors"] == 0
    # both corpus articles are indexed, so the supporting article is always in the top 5
    assert qm["recall_at_5"] == 1.0 and qm["mrr"] >= 0.5
    for key in ("answer_correct", "citation_precision", "citation_recall", "flagged_share"):
        assert key in qm
    assert set(cm["confusion"]) == {"supported", "contradicted", "unsupported"}
    assert data["latency"]["question"]["total"]["n"] == 6
    assert all(q["backend"] for q in data["questions"])
    assert not (tmp_path / "user-index").exists() and not (tmp_path / "index").exists()
