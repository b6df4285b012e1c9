"""The evaluation run and CLI with a fake Assistant (canned answers over real corpus
chunks), paraphrases, citation pairs, figures per tag. test_eval_items.py has the dev set,
test_eval_metrics.py the claim metrics; tests/integration/test_evaluate.py runs it for real.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.errors import LoadError
from assistant.eval.items import ClaimItem, Item, QuestionItem, Quote, load_items
from assistant.eval.metrics import question_metrics
from assistant.eval.report import summary_table
from assistant.eval.run import EvalProgress, evaluate, temporary_assistant
from assistant.eval.score import score_question
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
from tests.conftest import REPO
from tests.unit.fakes import EvalAssistant

DEV = REPO / "eval" / "dev.jsonl"
A = "000_b2982247c88755c3"
B = "003_189b76db5b34766f"


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


def _canned_answer(question: str) -> Answer:
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


def _canned_check(text: str) -> CheckReport:
    label = {"s": "supported", "c": "contradicted", "u": "unsupported"}[text[0]]
    chunk = CH_A if "A" in text else None
    return CheckReport(text=text, claims=[Claim(text, [], _verdict(label, chunk))],
                       timings={"retrieve": 0.01, "verify": 0.3})


class FakeAssistant(EvalAssistant):
    """Canned answers keyed by question; canned verdicts keyed by claim text."""

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__(settings, answer=_canned_answer, check=_canned_check,
                         ingest_result=IngestResult(added=(A, B)))


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
