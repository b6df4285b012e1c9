"""The evaluation harness: dev set integrity, scoring rules, the run, the CLI.

Fast tests use a small fake Assistant (canned answers over real corpus chunks) and
hand-built results about invented companies for the metric rules; the slow test runs
``assistant eval`` for real over ``corpus/`` with the extractive backend.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.errors import LoadError
from assistant.eval.facts import key_facts
from assistant.eval.items import ClaimItem, Item, QuestionItem, Quote, load_items
from assistant.eval.metrics import (
    baseline_predictions,
    bootstrap_cis,
    claim_metrics,
    expected_calibration_error,
    question_metrics,
)
from assistant.eval.report import Report, summary_table
from assistant.eval.run import EvalProgress, evaluate, temporary_assistant
from assistant.eval.score import ClaimResult, score_question
from assistant.models import (
    Answer,
    CheckReport,
    Chunk,
    Claim,
    Evidence,
    IngestResult,
    Passage,
    Source,
    Turn,
    Verdict,
)

REPO = Path(__file__).resolve().parent.parent
DEV = REPO / "eval" / "dev.jsonl"
A = "000_b2982247c88755c3"
B = "003_189b76db5b34766f"


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


def _items() -> list[Item]:
    return [
        QuestionItem("q1", "How many tonnes?", "3,000 tonnes a year.", (A,),
                        (Quote(A, "targets 3,000 tonnes of neodymium-iron-boron"),)),
        QuestionItem("q2", "Who is the local partner?", "Khazanah Nasional.", (B,),
                        (Quote(B, "Khazanah Nasional tipped as the local partner"),)),
        QuestionItem("q3", "What is the CEO's name?", "not in the sources"),
        QuestionItem("q4", "Which month?", "July.", (A,), (Quote(A, "July memorandum"),),
                        history=(Turn("user", "Who?"), Turn("assistant", "Lynas [1]."))),
        ClaimItem("c1", "s claim A", "supported", A, "x"),
        ClaimItem("c2", "c claim", "contradicted", B, "x"),  # predicted right, no evidence
        ClaimItem("c3", "s claim", "unsupported"),  # predicted supported: a false positive
        ClaimItem("c4", "u claim A", "contradicted", A, "x"),
    ]


def test_evaluate_scores_the_fake_run() -> None:
    fake = FakeAssistant()
    seen: list[EvalProgress] = []
    report = evaluate(fake, _items(), backend="extractive", progress=seen.append)
    assert [p.done for p in seen] == list(range(1, 9)) and seen[-1].total == 8
    assert fake.asked[3][1] == (Turn("user", "Who?"), Turn("assistant", "Lynas [1]."))
    assert fake.asked[0][2] == "extractive"
    qm = report.question_metrics
    assert qm["answerable"] == 3 and qm["unanswerable"] == 1
    # ranked articles are [B, A]: q1 and q4 rank A second, q2 ranks B first
    assert qm["recall_at_5"] == pytest.approx(1.0)
    assert qm["mrr"] == pytest.approx((0.5 + 1.0 + 0.5) / 3)
    assert qm["answer_correct"] == pytest.approx(1 / 3)  # q1 right, q2 wrong, q4 refused
    # every answerable item's key facts are in the sources shown: a reader could get all 3
    assert qm["answer_ceiling"] == pytest.approx(1.0)
    assert [q.facts_in_sources for q in report.questions] == [True, True, False, True]
    assert qm["abstain_rate"] == pytest.approx(1.0)
    assert qm["false_refusal_rate"] == pytest.approx(1 / 3)
    # q1 cites [1] (B: no quote, no fact) and [2] (A: quote) -> 1/2; q2 cites [1] (B: quote) -> 1/1
    assert qm["citation_precision"] == pytest.approx(2 / 3)
    assert qm["citation_recall"] == pytest.approx(2 / 3)  # "It is huge." has no citation
    # the marker rule gives the same figures here: [2] of q1 and [1] of q2 hold quotes
    assert qm["citation_marker_precision"] == pytest.approx(2 / 3)
    assert qm["citation_marker_recall"] == pytest.approx(2 / 3)
    # per pair: q1 ([2]: quote + "3,000 tonnes") and q2 ([1]: quote + "partner", half of
    # {temasek, partner}) are precise; q1's [1] holds no quote and has no numbered evidence
    assert [(q.pairs, q.pairs_precise, q.sentences_backed) for q in report.questions] == [
        (2, 1, 1), (1, 1, 1), (0, 0, 0), (0, 0, 0)]
    assert qm["flagged_share"] == pytest.approx(2 / 3)
    for key in ("recall_at_5", "answer_correct", "abstain_rate", "false_refusal_rate",
                "citation_precision", "citation_recall"):
        lo, hi = qm[f"{key}_ci"]
        assert 0.0 <= lo <= hi <= 1.0, key
    cm = report.claim_metrics
    assert cm["confusion"]["supported"]["supported"] == 1
    assert cm["confusion"]["contradicted"]["contradicted"] == 1
    assert cm["confusion"]["contradicted"]["unsupported"] == 1
    assert cm["confusion"]["unsupported"]["supported"] == 1
    # TPR 1/1, TNR 2/3
    assert cm["balanced_accuracy"] == pytest.approx((1 + 2 / 3) / 2)
    assert cm["evidence_hit"] == pytest.approx(2 / 3)  # c1 and c4 hit A, c2 returns nothing
    # F1 = 2TP / (gold + predicted): supported 2/3, contradicted 2/3, unsupported 0
    assert cm["macro_f1"] == pytest.approx(4 / 9)
    assert cm["contradicted_recall"] == pytest.approx(1 / 2)
    assert cm["accuracy_3way"] == pytest.approx(1 / 2)
    assert cm["ece"] == pytest.approx(0.4)  # all four at 0.9, two right
    # length: 3, 2, 2, 3 words, median 2.5 -> c2, c3 supported; TPR 0, TNR 1/3
    assert cm["baselines"]["claim_length"]["balanced_accuracy"] == pytest.approx(1 / 6)
    # the fake's quotes ("The deal builds on t") never hold "claim": all unsupported
    assert cm["baselines"]["claim_in_evidence"]["balanced_accuracy"] == pytest.approx(0.5)
    assert report.claims[0].evidence_quotes == [CH_A.text[:20]]
    lat = report.latency
    assert lat["question"]["generate"]["median_s"] == pytest.approx(0.2)
    assert lat["claim"]["verify"]["p95_s"] == pytest.approx(0.3)
    assert {"total", "retrieve", "generate", "verify"} <= set(lat["question"])
    table = summary_table(report)
    for word in ("recall@5", "MRR", "balanced accuracy", "p95", "contradicted", "citation"):
        assert word in table
    assert len(table.splitlines()) < 45  # one screen
    assert re.search(r"balanced accuracy +0\.833 \[\d\.\d{3}, \d\.\d{3}\]", table)
    assert "macro-F1" in table and "ECE" in table and "marker precision" in table
    data = json.loads(json.dumps(report.to_dict()))
    assert len(data["questions"]) == 4 and len(data["claims"]) == 4
    assert data["questions"][0]["facts_found"] == ["3,000 tonnes a year"]  # with its period


def test_limit_keeps_first_questions_and_claims() -> None:
    report = evaluate(FakeAssistant(), _items(), limit=1)
    assert [q.id for q in report.questions] == ["q1"] and [c.id for c in report.claims] == ["c1"]


def test_assistant_errors_are_recorded_and_the_run_goes_on() -> None:
    from assistant.errors import GenerationError

    class Failing(FakeAssistant):
        def ask(self, question, history=(), filters=None, backend=None):  # type: ignore[no-untyped-def]
            if "tonnes" in question:
                raise GenerationError("backend down")
            return super().ask(question, history, filters, backend)

    report = evaluate(Failing(), _items())
    assert report.questions[0].error.startswith("GenerationError")
    assert report.question_metrics["errors"] == 1 and len(report.questions) == 4


def test_temporary_assistant_never_uses_index_or_server(tmp_path: Path) -> None:
    made: list[Settings] = []

    def factory(s: Settings) -> FakeAssistant:
        made.append(s)
        return FakeAssistant(s)

    base = Settings(_env_file=None, index_dir=tmp_path / "mine", chroma_host="10.0.0.1")
    with temporary_assistant(base, ["corpus"], factory=factory) as a:
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


def test_cli_eval_paraphrase_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from assistant import cli

    monkeypatch.setattr(cli, "Assistant", FakeAssistant)
    path = tmp_path / "e.jsonl"
    path.write_text(json.dumps(
        {"kind": "question", "id": "q1", "question": "Who runs Quillon Metals?",
         "paraphrase": "How many tonnes does Quillon Metals ship?", "answer": "3,000 tonnes",
         "supporting_article_ids": [A], "tags": ["numeric"]}))
    out = tmp_path / "report.json"
    code = cli.main(["--index", str(tmp_path / "idx"), "eval", str(path), "--paraphrase",
                     "--out", str(out), "-q"])
    assert code == 0
    assert "asked: paraphrases" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["meta"]["paraphrase"] is True and data["meta"]["paraphrased"] == 1
    q = data["questions"][0]
    assert q["asked"] == "How many tonnes does Quillon Metals ship?" and q["correct"] is True
    assert data["question_metrics"]["by_tag"]["numeric"]["answer_correct"] == 1.0


def test_cli_eval_bad_file_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from assistant import cli

    code = cli.main(["--index", str(tmp_path / "idx"), "eval", str(tmp_path / "missing.jsonl")])
    assert code == 1
    assert "missing.jsonl" in capsys.readouterr().err


# ---- optional fields and paraphrases -------------------------------------------------------
def test_optional_fields_are_parsed_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    rows = [
        {"kind": "question", "id": "q1", "question": "Where is the Borealis plant?",
         "answer": "In Varden.", "tags": ["place", "entity"],
         "paraphrase": "Which town hosts the Borealis plant?", "note": "invented"},
        {"kind": "claim", "id": "c1", "claim": "Borealis opened a plant in Ostrel.",
         "label": "contradicted", "perturbation": "place", "note": "town swapped"},
        {"kind": "claim", "id": "c2", "claim": "Borealis opened a plant.", "label": "supported"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    q, c1, c2 = load_items(path)
    assert isinstance(q, QuestionItem) and isinstance(c1, ClaimItem)
    assert q.tags == ("place", "entity") and q.note == "invented"
    assert q.paraphrase == "Which town hosts the Borealis plant?"
    assert c1.perturbation == "place" and c1.note == "town swapped"
    assert isinstance(c2, ClaimItem) and c2.perturbation == "" and c2.note == ""
    path.write_text(json.dumps({**rows[0], "tags": "place"}))
    with pytest.raises(LoadError, match="tags must be a list"):
        load_items(path)


def test_paraphrase_is_asked_only_when_asked_for_and_present() -> None:
    items = [
        dataclasses.replace(_items()[0], paraphrase="What is the yearly magnet target?"),
        _items()[1],  # no paraphrase: its question is asked
    ]
    fake = FakeAssistant()
    report = evaluate(fake, items, use_paraphrase=True)
    assert [a[0] for a in fake.asked] == ["What is the yearly magnet target?",
                                         "Who is the local partner?"]
    assert report.questions[0].asked == "What is the yearly magnet target?"
    assert report.questions[0].question == "How many tonnes?"
    assert report.questions[0].abstained  # the fake knows "tonnes" only
    assert report.meta["paraphrase"] is True and report.meta["paraphrased"] == 1
    assert "paraphrase" in summary_table(report)
    plain = FakeAssistant()
    report = evaluate(plain, items)
    assert [a[0] for a in plain.asked] == ["How many tonnes?", "Who is the local partner?"]
    assert report.meta["paraphrase"] is False and report.meta["paraphrased"] == 0


# ---- citation precision per sentence-citation pair ------------------------------------------
def _invented_answer() -> tuple[QuestionItem, Answer]:
    """Borealis Magnetics (invented): five sentences, three sources, one invalid number."""
    p1 = _chunk("x", 0, "Borealis Magnetics plans 1,200 tonnes a year at its Varden site, "
                        "the company said on Monday.")
    p2 = _chunk("y", 0, "Quillon Metals reported record lithium sales in the third quarter.")
    p3 = _chunk("y", 1, "Analysts expect the Varden site to open late next year.")
    sources = [Source(i, Passage(c, 0.5)) for i, c in enumerate((p1, p2, p3), 1)]

    def supported(number: int) -> Verdict:
        chunk = (p1, p2, p3)[number - 1]
        return Verdict("supported", 0.9, (Evidence(chunk.id, chunk.article_id, chunk.text[:10],
                                                   0, 10, source_number=number),))

    claims = [
        # [1] holds the quote and shares "1,200 tonnes" -> precise; [2] no quote, and the
        # evidence is numbered [1] -> not precise
        Claim("Borealis plans 1,200 tonnes a year [1][2].", [1, 2], supported(1)),
        # [3] holds no quote: with gold quotes it is not precise, whatever the verifier says
        Claim("The site opens late next year [3].", [3], supported(3)),
        # [2][2] is one pair; no quote, verdict not supported; marker: cited_ok false
        Claim("Quillon Metals sold lithium [2][2].", [2, 2],
              Verdict("unsupported", 0.6, cited_ok=False)),
        # [1] holds the quote but shares no key fact and no content word
        Claim("Shareholders approved a new chairman [1].", [1]),
        # no key fact, but all of {borealis, magnetic, plan, site} are in the quote
        Claim("Borealis Magnetics plans a site [1].", [1]),
    ]
    answer = Answer(question="How much?", text=" ".join(c.text for c in claims), claims=claims,
                    sources=sources, invalid_citations=[7], backend="fake")
    item = QuestionItem("b1", "How much will Borealis make, and where?",
                           "1,200 tonnes at Varden.", ("x",),
                           (Quote("x", "Borealis Magnetics plans 1,200 tonnes a year at its "
                                          "Varden site"),))
    return item, answer


def test_citation_pairs_are_scored_one_by_one() -> None:
    item, answer = _invented_answer()
    res = score_question(item, answer, 0.1)
    # pairs: s1 x2 (1 precise), s2, s3, s4, s5 (precise), invalid [7] -> 2 / 7
    assert (res.pairs, res.pairs_precise, res.sentences_backed, res.sentences) == (7, 2, 2, 5)
    # marker rule: distinct [1] [2] [3] + [7]; [1] holds the quote, [3] names Varden
    assert (res.cited, res.cited_precise, res.sentences_cited) == (4, 2, 4)
    qm = question_metrics([res])
    assert qm["citation_precision"] == pytest.approx(2 / 7)
    assert qm["citation_recall"] == pytest.approx(2 / 5)
    assert qm["citation_marker_precision"] == pytest.approx(2 / 4)
    assert qm["citation_marker_recall"] == pytest.approx(4 / 5)
    # without gold quotes only rule (b) is left: s1's [1] and s2's [3] (numbered evidence)
    bare = score_question(dataclasses.replace(item, supporting_quotes=()), answer, 0.1)
    assert (bare.pairs, bare.pairs_precise, bare.sentences_backed) == (7, 2, 2)
    # an abstained answer or an unanswerable item has no pairs
    refused = score_question(item, dataclasses.replace(answer, abstained=True), 0.1)
    unanswerable = score_question(dataclasses.replace(item, answer="not in the sources"),
                                     answer, 0.1)
    assert refused.pairs == unanswerable.pairs == 0


# ---- claim metrics ------------------------------------------------------------------------
def _invented_claims() -> list[ClaimResult]:
    """(claim, gold, predicted, confidence, evidence quotes, perturbation); invented firms."""
    rows = [
        ("Borealis opened Varden plant.", "supported", "supported", 0.95,
         ["Borealis Magnetics opened its Varden plant in May."], "none"),
        ("Quillon sold lithium last year.", "supported", "supported", 0.85,
         ["Quillon Metals sold lithium to buyers last year."], "none"),
        ("Borealis hired three hundred workers there.", "supported", "unsupported", 0.55,
         ["Borealis hired three hundred workers there in May."], ""),
        ("Quillon Metals closed its Varden plant last month.", "contradicted", "contradicted",
         0.75, [], "number"),
        ("Borealis Magnetics said output fell sharply during the winter months.",
         "contradicted", "supported", 0.65,
         ["Borealis Magnetics said output fell sharply during the winter months, citing cuts."],
         "negation"),
        ("Varden workers went on strike in June.", "contradicted", "unsupported", 0.45,
         ["Workers at Varden went on strike in July."], "number"),
        ("Quillon plans a new refinery.", "unsupported", "unsupported", 0.62,
         ["Quillon announced plans for a new refinery."], "added_figure"),
        ("Borealis and Quillon will merge next spring, according to several people familiar.",
         "unsupported", "supported", 0.91, ["Borealis denied merger talks."], ""),
    ]
    return [
        ClaimResult(id=f"c{i}", claim=claim, label=gold, predicted=pred, confidence=conf,
                       verdicts=1, evidence_quotes=quotes, perturbation=pert)
        for i, (claim, gold, pred, conf, quotes, pert) in enumerate(rows, 1)
    ]


def test_claim_metrics_hand_computed() -> None:
    rows = _invented_claims()
    cm = claim_metrics(rows)
    # TPR 2/3; not-supported predicted for 3 of the 5 others
    assert cm["balanced_accuracy"] == pytest.approx((2 / 3 + 3 / 5) / 2)
    assert cm["accuracy_3way"] == pytest.approx(4 / 8)
    per = cm["per_label"]
    assert per["supported"] == pytest.approx(
        {"n": 3, "predicted": 4, "precision": 2 / 4, "recall": 2 / 3, "f1": 4 / 7})
    assert per["contradicted"] == pytest.approx(
        {"n": 3, "predicted": 1, "precision": 1.0, "recall": 1 / 3, "f1": 2 / 4})
    assert per["unsupported"] == pytest.approx(
        {"n": 2, "predicted": 3, "precision": 1 / 3, "recall": 1 / 2, "f1": 2 / 5})
    assert cm["contradicted_recall"] == pytest.approx(1 / 3)
    assert cm["macro_f1"] == pytest.approx((4 / 7 + 1 / 2 + 2 / 5) / 3)
    # bins: .9 {.95 right, .91 wrong}, .8 {.85 right}, .7 {.75 right},
    # .6 {.65 wrong, .62 right}, .5 {.55 wrong}, .4 {.45 wrong}
    ece = (2 * 0.43 + 0.15 + 0.25 + 2 * 0.135 + 0.55 + 0.45) / 8
    assert cm["ece"] == pytest.approx(ece)
    rel = cm["reliability"]
    assert len(rel) == 10 and rel[0] == {"bin": [0.0, 0.1], "n": 0, "confidence": None,
                                         "accuracy": None}
    assert rel[9]["n"] == 2 and rel[9]["confidence"] == pytest.approx(0.93)
    assert rel[9]["accuracy"] == pytest.approx(0.5) and rel[9]["bin"] == [0.9, 1.0]
    assert rel[6]["n"] == 2 and rel[6]["confidence"] == pytest.approx(0.635)
    # a claim without a verdict has no confidence and stays out of the ECE
    no_verdict = ClaimResult(id="c9", claim="x", label="supported")
    assert expected_calibration_error([*rows, no_verdict]) == pytest.approx(ece)
    assert expected_calibration_error([no_verdict]) is None


def test_claim_baselines_hand_computed() -> None:
    rows = _invented_claims()
    # words 4 5 6 8 10 7 5 12 -> median 6.5; supported: c1 c2 c3 c7
    # claim-in-evidence supported: c1 c2 c3 c5 c7 (c4 has no quotes, c6 says July, c8 no)
    assert baseline_predictions(rows) == {
        "claim_length": ["supported"] * 3 + ["unsupported"] * 3 + ["supported", "unsupported"],
        "claim_in_evidence": ["supported"] * 3 + ["unsupported", "supported", "unsupported",
                                                  "supported", "unsupported"],
    }
    base = claim_metrics(rows)["baselines"]
    length, in_ev = base["claim_length"], base["claim_in_evidence"]
    assert length["balanced_accuracy"] == pytest.approx((1 + 4 / 5) / 2)
    assert length["macro_f1"] == pytest.approx((6 / 7 + 0 + 2 / 6) / 3)
    assert in_ev["balanced_accuracy"] == pytest.approx((1 + 3 / 5) / 2)
    assert in_ev["macro_f1"] == pytest.approx((6 / 8 + 0 + 2 / 5) / 3)
    assert length["contradicted_recall"] == in_ev["contradicted_recall"] == 0.0
    for figures in (length, in_ev):
        lo, hi = figures["balanced_accuracy_ci"]
        assert 0.0 <= lo <= hi <= 1.0


def test_figures_per_perturbation() -> None:
    by = claim_metrics(_invented_claims())["by_perturbation"]
    assert list(by) == ["added_figure", "negation", "none", "number"]  # "" is left out
    assert by["number"] == pytest.approx({
        "n": 2, "accuracy_3way": 0.5, "predicted_supported": 0.0,
        "predicted_contradicted": 0.5, "predicted_unsupported": 0.5})
    assert by["negation"]["accuracy_3way"] == 0.0 and by["negation"]["predicted_supported"] == 1
    assert by["none"]["n"] == 2 and by["none"]["accuracy_3way"] == 1.0
    report = Report(backend="fake", claims=_invented_claims(),
                       claim_metrics=claim_metrics(_invented_claims()))
    table = summary_table(report)
    assert "by perturbation" in table and re.search(r"negation +1 +0\.000 +1\.000", table)


def test_figures_per_tag() -> None:
    tags = [("numeric", "multi"), ("entity", "multi"), ("unanswerable",), ("date", "follow-up")]
    items = [dataclasses.replace(q, tags=t) for q, t in zip(_items()[:4], tags, strict=True)]
    report = evaluate(FakeAssistant(), items)
    by = report.question_metrics["by_tag"]
    assert list(by) == ["date", "entity", "follow-up", "multi", "numeric", "unanswerable"]
    assert by["multi"] == pytest.approx({"n": 2, "answer_correct": 0.5, "abstain_rate": None,
                                         "false_refusal_rate": 0.0, "recall_at_5": 1.0})
    assert by["unanswerable"] == {"n": 1, "answer_correct": None, "abstain_rate": 1.0,
                                  "false_refusal_rate": None, "recall_at_5": None}
    assert by["follow-up"]["false_refusal_rate"] == 1.0 and by["numeric"]["answer_correct"] == 1
    assert report.questions[0].tags == ["numeric", "multi"]
    table = summary_table(report)
    assert "by tag" in table and re.search(r"unanswerable +1 +- +1\.000 +- +-", table)


# ---- bootstrap intervals ------------------------------------------------------------------
def test_bootstrap_intervals() -> None:
    def mean(xs: Sequence[float]) -> float | None:
        return sum(xs) / len(xs) if xs else None

    def never(xs: Sequence[float]) -> float | None:
        return None

    cis = bootstrap_cis([0.0, 1.0], {"mean": mean, "never": never})
    # resample means are 0, 0.5, 1 (1/4, 1/2, 1/4): the 2.5th/97.5th percentiles are 0 and 1
    assert cis == {"mean": [0.0, 1.0], "never": None}
    assert bootstrap_cis([0.7] * 5, {"mean": mean}) == {"mean": [pytest.approx(0.7)] * 2}
    assert bootstrap_cis([], {"mean": mean}) == {"mean": None}
    rows = [float(i % 3 == 0) for i in range(30)]
    first = bootstrap_cis(rows, {"mean": mean})
    assert first == bootstrap_cis(rows, {"mean": mean})  # fixed seed: the same interval
    lo, hi = first["mean"] or (0.0, 0.0)
    assert lo < 10 / 30 < hi
    cm = claim_metrics(_invented_claims())
    for key in ("balanced_accuracy", "macro_f1", "contradicted_recall", "accuracy_3way", "ece"):
        lo, hi = cm[f"{key}_ci"]
        assert lo <= hi, key


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
