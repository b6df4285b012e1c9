"""Fit the answerability gate on generated questions; print validation figures.

``.venv/bin/python bench/fit_gate.py [--write] [--max-refusal 0.05]``

Questions come from ``bench/questions.py`` (answerable / unanswerable, split by article like
the claim pairs; the development set's articles are in neither); each answerable one is
also measured with its answer sentences taken out of the passages, as an unanswerable twin
(:func:`strip_answer`). Each is retrieved over the
news corpus index that ``bench/fit_scorer.py`` builds (the same folder), its sentences are
ranked as the answer chain ranks them, and the gate's features are read
(:mod:`assistant.answer.gate`). A logistic regression (scikit-learn, balanced classes) is fitted
on train; the threshold is the highest one that keeps the validation refusal of
answerable questions at or under ``--max-refusal``. Printed on validation with bootstrap
95% intervals: refusal of answerable and of unanswerable questions, beside a trivial
baseline (the best sentence's cosine alone, its threshold chosen the same way) and an
ablation per feature. ``--write`` saves ``assistant/answer/gate.json`` with its provenance.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import subprocess
from pathlib import Path

import numpy as np
import questions as questions_mod  # noqa: E402
from _setup import CACHE, NEWS, REPO  # noqa: E402  (paths, offline models)

from assistant.answer.gate import FEATURES, GATE_PATH, Gate, GateModel  # noqa: E402
from assistant.config import Settings  # noqa: E402


def load(folder: Path) -> dict[str, list[dict]]:
    if not (folder / "questions_train.jsonl").exists():
        questions_mod.main(["--out", str(folder)])
    out = {}
    for split in ("train", "valid"):
        text = (folder / f"questions_{split}.jsonl").read_text(encoding="utf-8")
        out[split] = [json.loads(x) for x in text.splitlines() if x.strip()]
    return out


def strip_answer(passages: list, row: dict) -> list:
    """The passages without the sentences that state ``row``'s answer (its figure, with
    two or more words of the answer sentence), so its question becomes one about an
    entity the passages cover and a detail they no longer state."""
    from dataclasses import replace

    from assistant.text import split_sentences
    from assistant.verify.numbers import content_words

    answer_words = content_words(row["sentence"])
    out = []
    for p in passages:
        text = p.chunk.text
        kept = [text[s:e] for s, e in split_sentences(text)
                if not (row["figure"] in text[s:e]
                        and len(content_words(text[s:e]) & answer_words) >= 2)]
        out.append(replace(p, chunk=replace(p.chunk, text=" ".join(kept))))
    return out


def measure(rows: list[dict], index_dir: Path, twins: bool = True) -> list[dict]:
    """The gate's features as the answer chain reads them: a pool of ``RERANK_POOL``
    passages ordered by the cross-encoder, the best ``top_k`` kept with their scores.
    With ``twins``, each answerable question with a known answer sentence is measured a
    second time as unanswerable over the same pool with that answer taken out
    (:func:`strip_answer`): the hard case of a known entity and an unstated detail."""
    from assistant.answer.chain import RERANK_POOL
    from assistant.answer.gate import ANSWER_SENTENCES
    from assistant.answer.rank import answer_candidates, rank_sentences
    from assistant.rerank import CrossEncoder, rerank
    from assistant.service import Assistant

    assistant = Assistant(Settings(index_dir=index_dir, backend="extractive", chroma_host=None))
    assistant.ingest([str(NEWS / "articles")])
    encoder = CrossEncoder()
    gate = Gate(encoder, model=None)
    top_k = assistant.settings.top_k

    def read(question: str, pool: list) -> tuple[dict, list[str]]:
        passages, relevance = rerank(encoder, question, pool, top_k)
        ranked = rank_sentences(question, passages, assistant.embedder)
        best = max((r.similarity for r in ranked), default=0.0)
        return gate.features(question, passages, best, assistant.embedder.count_tokens,
                             relevance=relevance,
                             candidates=answer_candidates(question, ranked, ANSWER_SENTENCES))

    out = []
    for i, row in enumerate(rows):
        pool = assistant.retriever.retrieve(row["question"], k=max(top_k, RERANK_POOL))
        feats, missing = read(row["question"], pool)
        out.append({**row, "features": feats, "missing": missing})
        if twins and row["answerable"] and row.get("figure"):
            feats, missing = read(row["question"], strip_answer(pool, row))
            out.append({**row, "id": row["id"] + "-twin", "answerable": False,
                        "kind": "stripped", "features": feats, "missing": missing})
        if (i + 1) % 100 == 0:
            logging.info("measured %d/%d", i + 1, len(rows))
    return out


def fit(rows: list[dict], feats: tuple[str, ...]) -> GateModel:
    from sklearn.linear_model import LogisticRegressionCV

    x = np.array([[r["features"][f] for f in feats] for r in rows])
    y = np.array([r["answerable"] for r in rows])
    clf = LogisticRegressionCV(Cs=[0.01, 0.1, 1.0, 10.0], cv=5, max_iter=2000,
                               class_weight="balanced")
    clf.fit(x, y)
    weights = {f: round(float(w), 5) for f, w in zip(feats, clf.coef_[0], strict=True)}
    return GateModel(weights, round(float(clf.intercept_[0]), 5), 0.5, {})


def threshold(model: GateModel, rows: list[dict], max_refusal: float) -> float:
    """The highest threshold refusing at most ``max_refusal`` of answerable questions."""
    p = sorted(model.probability(r["features"]) for r in rows if r["answerable"])
    k = int(np.floor(max_refusal * len(p)))
    return float(p[k]) - 1e-9 if p else 0.5


def rates(model: GateModel, rows: list[dict], seed: int = 3) -> dict[str, list[float]]:
    refused = np.array([model.probability(r["features"]) < model.threshold for r in rows])
    ans = np.array([r["answerable"] for r in rows])
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(1000):
        i = rng.choice(len(rows), len(rows))
        samples.append((refused[i][ans[i]].mean(), refused[i][~ans[i]].mean()))
    s = np.array(samples)
    return {
        "answerable_refused": [float(refused[ans].mean()), *np.percentile(s[:, 0], [2.5, 97.5])],
        "unanswerable_refused": [float(refused[~ans].mean()),
                                 *np.percentile(s[:, 1], [2.5, 97.5])],
    }


def show(name: str, model: GateModel, rows: list[dict]) -> dict:
    r = rates(model, rows)
    n_a = sum(x["answerable"] for x in rows)
    print(f"  {name:<26} answerable refused {r['answerable_refused'][0]:.3f} "
          f"[{r['answerable_refused'][1]:.3f}, {r['answerable_refused'][2]:.3f}] (n={n_a})  "
          f"unanswerable refused {r['unanswerable_refused'][0]:.3f} "
          f"[{r['unanswerable_refused'][1]:.3f}, {r['unanswerable_refused'][2]:.3f}] "
          f"(n={len(rows) - n_a})")
    return {k: [round(float(x), 4) for x in v] for k, v in r.items()}


def tuned(train: list[dict], valid: list[dict], feats: tuple[str, ...], cap: float) -> GateModel:
    m = fit(train, feats)
    return GateModel(m.weights, m.bias, threshold(m, valid, cap), m.meta)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=Path, default=CACHE / "pairs")
    ap.add_argument("--index", type=Path, default=CACHE / "fit-index")
    ap.add_argument("--max-refusal", type=float, default=0.05)
    ap.add_argument("--threshold", type=float, default=None,
                    help="the operating threshold instead of the --max-refusal one (the "
                         "packaged gate's was read off the development set: see its meta)")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    data = load(args.pairs)
    rows = measure(data["train"] + data["valid"], args.index)
    train_ids = {r["id"] for r in data["train"]}
    train = [r for r in rows if r["id"].removesuffix("-twin") in train_ids]
    valid = [r for r in rows if r["id"].removesuffix("-twin") not in train_ids]
    print(f"\ntrain {len(train)}, valid {len(valid)} questions (split by article)")
    print("VALIDATION (bootstrap 95% intervals)")
    show("baseline: best cosine", tuned(train, valid, ("sim_max",), args.max_refusal), valid)
    model = tuned(train, valid, FEATURES, args.max_refusal)
    figures = show("gate", model, valid)
    if args.threshold is not None:
        model = GateModel(model.weights, model.bias, args.threshold, model.meta)
        figures = show(f"gate at threshold {args.threshold}", model, valid)
    print("  weights:", model.weights, "bias", model.bias, "threshold", round(model.threshold, 4))
    print("ABLATION (refit without the feature)")
    for f in FEATURES:
        show(f"without {f}", tuned(train, valid, tuple(x for x in FEATURES if x != f),
                                   args.max_refusal), valid)
    if args.write:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                                text=True).stdout.strip()
        meta = {
            "fitted_by": "bench/fit_gate.py --write", "commit": commit,
            "max_refusal": args.max_refusal, "threshold_given": args.threshold,
            "validation": figures,
            "questions_sha256": {
                s: hashlib.sha256((args.pairs / f"questions_{s}.jsonl").read_bytes()).hexdigest()
                for s in ("train", "valid")
            },
            "n_train": len(train), "n_valid": len(valid),
        }
        out = GateModel(model.weights, model.bias, round(model.threshold, 6), meta)
        GATE_PATH.write_text(json.dumps(out.to_json(), indent=1) + "\n", encoding="utf-8")
        print(f"wrote {GATE_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
