"""Answer latency as a user meets it, per stage, with the answer quality of the same run.

    .venv/bin/python bench/answer.py [--n 20] [--backends local] [--threads N] [--no-verify]
                                     [--index DIR] [--out R.json] [-v]

Asks a fixed sample of ``--n`` questions of ``../shared/news/eval_dev.jsonl`` (drawn with a
fixed seed from its question items, follow-ups with their history) over an index of the 365
articles in ``../shared/news/articles``, with the default settings (claim checking on). The
index is kept in ``~/.cache/rare-earth-assistant/bench-news-index`` and refreshed by an
ordinary ingest (unchanged articles are skipped). Run it alone on a quiet machine.

Per question it records the stages the chain reports (retrieve, select, gate, prompt eval,
generation, verification), when the sources were first visible (the stream's ``sources``
event), the first answer token, the whole checked answer, output tokens/s and peak memory;
then prints medians and p95s beside the quality of the same answers (answer correct with a
bootstrap 95% interval, abstention on unanswerable questions, false refusals), scored as
``assistant eval`` scores them. The extractive backend, run on the same questions in the same
process, is the trivial baseline (no model).

Before the local run, ``Assistant.warm`` loads the model and evaluates the fixed instructions
(the page and the Slack bot do that at start-up); its time is printed apart.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any

from _setup import CACHE, NEWS  # noqa: F401 - sets the offline environment first

from assistant.config import Settings
from assistant.eval.items import QuestionItem, load_items
from assistant.eval.metrics import bootstrap_cis, percentile
from assistant.eval.score import score_question
from assistant.models import Filters
from assistant.service import Assistant

SEED = 18  # the sample is fixed: the same 20 questions before and after a change
STAGES = ("retrieve", "select", "gate", "prompt_eval", "generation", "verify")


def sample_questions(path: Path, n: int) -> list[QuestionItem]:
    """``n`` question items, drawn with a fixed seed, answerable and unanswerable ones in
    their proportion in the file (at least 3 unanswerable, so abstention is measured)."""
    items = [i for i in load_items(path) if isinstance(i, QuestionItem)]
    rng = random.Random(SEED)
    no = [i for i in items if not i.answerable]
    yes = [i for i in items if i.answerable]
    k = min(len(no), max(3, round(n * len(no) / max(len(items), 1))))
    picked = rng.sample(no, k) + rng.sample(yes, min(n - k, len(yes)))
    return sorted(picked, key=lambda q: q.id)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ask(assistant: Assistant, q: QuestionItem, backend: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    seen: dict[str, float] = {}
    answer = None
    for event in assistant.ask_stream(q.question, q.history, Filters(), backend=backend):
        now = time.perf_counter() - t0
        if event.kind == "sources" or (event.kind == "answer" and event.answer
                                       and event.answer.sources):
            seen.setdefault("sources", now)
        if event.kind == "token":
            seen.setdefault("first_token", now)
        if event.kind == "answer":
            answer = event.answer
    whole = time.perf_counter() - t0
    assert answer is not None
    tm = dict(answer.timings)
    row: dict[str, Any] = {
        "id": q.id, "whole": whole, "sources_visible": seen.get("sources", whole),
        "first_token": seen.get("first_token", whole), "abstained": answer.abstained,
        "text": answer.text,
    }
    for stage in ("retrieve", "select", "gate", "verify"):
        if stage in tm:
            row[stage] = tm[stage]
    generated = backend == "local" and "generate" in tm and answer.backend == "local"
    if generated:
        lm = assistant.local_model
        row["prompt_eval"] = lm.last_prefill_seconds
        row["generation"] = max(tm["generate"] - lm.last_prefill_seconds, 1e-6)
        row["prompt_tokens"] = lm.last_prompt_tokens
        row["cached_tokens"] = lm.last_cached_tokens
        row["output_tokens"] = lm.last_output_tokens
        row["tokens_per_s"] = lm.last_output_tokens / row["generation"]
    res = score_question(q, answer, whole)
    row["correct"], row["answerable"] = res.correct, q.answerable
    return row


def stat(rows: list[dict[str, Any]], key: str) -> str:
    vals = [r[key] for r in rows if key in r]
    if not vals:
        return f"  {key:<16} -"
    return (f"  {key:<16} median {percentile(vals, 50):6.2f}   p95 {percentile(vals, 95):6.2f}"
            f"   (n={len(vals)})")


def quality(rows: list[dict[str, Any]]) -> list[str]:
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    correct = [1.0 if r["correct"] else 0.0 for r in answerable]
    abstain = [1.0 if r["abstained"] else 0.0 for r in unanswerable]
    refused = [1.0 if r["abstained"] else 0.0 for r in answerable]
    out = []
    for name, vals in (("answer correct", correct), ("abstain (unanswerable)", abstain),
                       ("false refusal", refused)):
        if not vals:
            out.append(f"  {name:<24} - (n=0)")
            continue
        ci = bootstrap_cis(vals, {"v": lambda s: sum(s) / len(s)})["v"] or [0.0, 0.0]
        lo, hi = ci
        out.append(f"  {name:<24} {sum(vals) / len(vals):.3f} [{lo:.3f}, {hi:.3f}] "
                   f"(n={len(vals)})")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--first", type=int, help="ask only the first N of the sample (a quick look)")
    ap.add_argument("--backends", nargs="+", default=["extractive", "local"])
    ap.add_argument("--threads", type=int, help="llama.cpp threads (default: cores)")
    ap.add_argument("--no-verify", action="store_true", help="skip claim checking")
    ap.add_argument("--index", type=Path, default=CACHE / "bench-news-index")
    ap.add_argument("--out", type=Path, help="write the per-question rows as JSON")
    ap.add_argument("-v", "--verbose", action="store_true", help="print the answers")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    overrides: dict[str, Any] = {"index_dir": args.index, "verify": not args.no_verify,
                                 "feedback_db": None, "chroma_host": None}
    if args.threads:
        overrides["llm_threads"] = args.threads
    settings = Settings(_env_file=None, **overrides)
    assistant = Assistant(settings)
    t = time.perf_counter()
    result = assistant.ingest([str(NEWS / "articles")])
    print(f"index {args.index}: {len(result.added)} added, {len(result.unchanged)} unchanged, "
          f"{time.perf_counter() - t:.1f} s; llama.cpp threads {settings.llm_threads}; "
          f"load average {os.getloadavg()[0]:.1f}")
    questions = sample_questions(NEWS / "eval_dev.jsonl", args.n)[: args.first]
    print(f"questions: {len(questions)} of eval_dev (seed {SEED}): "
          f"{sum(1 for q in questions if not q.answerable)} unanswerable, "
          f"{sum(1 for q in questions if q.history)} follow-ups")
    assistant.ask(questions[0].question, backend="extractive")  # warm embedder, store, BM25
    report: dict[str, Any] = {}
    for backend in args.backends:
        if backend == "local":
            t = time.perf_counter()
            assistant.warm("local")
            print(f"\nwarm-up (load the model, evaluate the fixed instructions): "
                  f"{time.perf_counter() - t:.1f} s")
        rows = []
        for i, q in enumerate(questions, 1):
            rows.append(ask(assistant, q, backend))
            r = rows[-1]
            logging.getLogger("bench").warning(
                "%s %d/%d %s %.1f s (first token %.1f s, prompt %s tokens, %s out, "
                "verify %.1f s)", backend, i, len(questions), q.id, r["whole"],
                r["first_token"], r.get("prompt_tokens"), r.get("output_tokens"),
                r.get("verify", 0.0))
            if args.out:  # kept as it goes: a long run stopped half-way still tells
                args.out.write_text(json.dumps({**report, backend: rows}, indent=1))
        report[backend] = rows
        print(f"\n== {backend}: {len(rows)} questions, claim checking "
              f"{'off' if args.no_verify else 'on'}")
        for key in ("sources_visible", "first_token", "whole", *STAGES, "tokens_per_s",
                    "prompt_tokens", "cached_tokens", "output_tokens"):
            print(stat(rows, key))
        print(f"  peak RSS so far  {peak_rss_mb():.0f} MB")
        print("\n".join(quality(rows)))
        if args.verbose:
            for r in rows:
                print(f"  {r['id']} {'OK ' if r['correct'] else '   '}{r['text'][:300]}")
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
