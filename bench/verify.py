"""Final figures of the claim verifier on the public sets, beside trivial baselines.

Sets (under ../shared/bench, never copied into the repo), deterministic subsamples:

- SciFact dev (``scifact/claims_dev.jsonl``): evidence = the cited abstracts from
  ``corpus_subset.jsonl``; labels supported / contradicted / unsupported.
- VitaminC test (``vitaminc_sample/test.jsonl``): supports / refutes / not enough info.
- HaluEval QA (``halueval/qa_seed_one-turn_500.jsonl``): per pair, the claim
  "Question: ... Answer: ..." with the right answer is supported by the knowledge, with the
  hallucinated answer it is not (gold unsupported).

These are test figures only: nothing here is fitted on them. The verifier is the product's
(``Verifier`` with the packaged ``scorer.json``, fitted by ``bench/fit_scorer.py`` on pairs
generated from the news corpus; with ``--no-judge`` the cheap path). Printed per set: n,
balanced accuracy (supported vs not), 3-way macro-F1, contradicted recall, ECE of the
confidence - each with a bootstrap 95% interval - beside two trivial baselines (claim
length; every claim word in the evidence), and the median latency per claim.

``--write-probe`` refits the judge's middle-layer probe (``assistant/verify/probe.json``)
from the hidden states the judge reads on the public *training* splits (SciFact train,
VitaminC train, HaluEval pairs the test sample never uses) plus ``--extra`` CLIMATE-FEVER
claims, and records its provenance (data hashes, commit, llama.cpp build). Hidden states
are cached in the temp dir, so a rerun only refits.

Usage: ``.venv/bin/python bench/verify.py [--n 100] [--no-judge]`` (final figures) or
``.venv/bin/python bench/verify.py --write-probe --train 500 --extra 1400`` (the probe,
about 70 minutes from an empty cache on 2 cores).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from _setup import REPO, SHARED  # noqa: E402  (paths, offline models)
from fit_scorer import show  # noqa: E402

from assistant.config import Settings  # noqa: E402
from assistant.models import Chunk, Passage  # noqa: E402
from assistant.verify.numbers import content_words  # noqa: E402

LABELS = ("supported", "contradicted", "unsupported")
VITC = {"supports": "supported", "refutes": "contradicted", "not enough info": "unsupported"}
PROBE_CS = (0.001, 0.003, 0.01, 0.03)
POSITIONS_READ = ("claim_end", "last")
PROBE_LAYERS = (16,)
TRAIN_FILES = ("scifact/claims_train.jsonl", "scifact/corpus_subset.jsonl",
               *(f"vitaminc_sample/train_{i}.jsonl" for i in range(5)),
               "halueval/qa_seed_one-turn_500.jsonl", "climate_fever/climate-fever.jsonl")


# ---- data -------------------------------------------------------------------------------------
def _jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _passage(doc_id: str, title: str, text: str) -> Passage:
    chunk = Chunk(
        id=f"{doc_id}:0", article_id=str(doc_id), index=0, text=text, start=0,
        end=len(text), section="", role="report", title=title,
    )
    return Passage(chunk=chunk, score=1.0)


def _sample(items: list, n: int, seed: int = 13) -> list:
    items = list(items)
    random.Random(seed).shuffle(items)
    return items[:n]


def scifact(split: str, n: int) -> list[dict]:
    corpus = {str(d["_id"]): d for d in _jsonl(SHARED / "scifact" / "corpus_subset.jsonl")}
    claims = [c for c in _jsonl(SHARED / "scifact" / f"claims_{split}.jsonl")
              if any(str(d) in corpus for d in c["cited_doc_ids"])]  # train: 345 of 809
    out = []
    for c in _sample(claims, n):
        docs = [corpus[str(d)] for d in c["cited_doc_ids"] if str(d) in corpus]
        passages = [_passage(d["_id"], d["title"], " ".join(d["sentences"])) for d in docs]
        out.append({"id": f"scifact-{split}-{c['id']}", "claim": c["claim"],
                    "label": c["label"], "passages": passages})
    return out


def vitaminc(files: Iterable[str], n: int) -> list[dict]:
    rows = []
    for f in files:
        rows += _jsonl(SHARED / "vitaminc_sample" / f)
    out = []
    for r in _sample(rows, n):
        out.append({"id": f"vitc-{r['id']}", "claim": r["claim"], "label": VITC[r["label"]],
                    "passages": [_passage(f"vitc-{r['id']}", "", r["evidence"])]})
    return out


CLIMATE = {"SUPPORTS": "supported", "REFUTES": "contradicted", "NOT_ENOUGH_INFO": "unsupported"}


def climate_fever(n: int) -> list[dict]:
    """Extra training claims for the probe only (never a test set): CLIMATE-FEVER claim and
    one evidence sentence the annotators agreed on (entropy 0), supported / contradicted /
    unsupported as that sentence's label; the claim's "refutes" sentence first, then its
    "supports" one, so the rarer labels are not crowded out."""
    out = []
    for r in _jsonl(SHARED / "climate_fever" / "climate-fever.jsonl"):
        clear = [e for e in r["evidences"] if e.get("entropy", 1.0) == 0.0
                 and e["evidence_label"] in CLIMATE]
        if not clear:
            continue
        order = {"REFUTES": 0, "SUPPORTS": 1, "NOT_ENOUGH_INFO": 2}
        e = min(clear, key=lambda e: order[e["evidence_label"]])
        out.append({"id": f"climate-{r['claim_id']}", "claim": r["claim"],
                    "label": CLIMATE[e["evidence_label"]],
                    "passages": [_passage(f"climate-{r['claim_id']}", e["article"],
                                          e["evidence"])]})
    return _sample(out, n)


HALU_TRAIN_FROM = 250  # HaluEval has no train split: pairs from here on fit, those before test


def halueval(n_pairs: int, train: bool = False) -> list[dict]:
    """Test: the first ``n_pairs`` of a fixed shuffle (n_pairs <= 250); train: pairs from
    position ``HALU_TRAIN_FROM`` of the same shuffle, so the two never overlap."""
    rows = _sample(_jsonl(SHARED / "halueval" / "qa_seed_one-turn_500.jsonl"), 500)
    if train:
        rows, tag = rows[HALU_TRAIN_FROM : HALU_TRAIN_FROM + n_pairs], "halufit"
    else:
        rows, tag = rows[: min(n_pairs, HALU_TRAIN_FROM)], "halu"
    out = []
    for i, r in enumerate(rows):
        p = [_passage(f"{tag}-{i}", "", r["knowledge"])]
        for key, label in (("right_answer", "supported"), ("hallucinated_answer", "unsupported")):
            claim = f"Question: {r['question']} Answer: {r[key]}"
            out.append({"id": f"{tag}-{i}-{key}", "claim": claim, "label": label, "passages": p})
    return out


# ---- the product path on the test sets -------------------------------------------------
def run_set(items: list[dict], verifier) -> tuple[list[str], list[str], list[float], list[float]]:
    """(gold, predicted, confidence, seconds) of the product verifier on ``items``."""
    gold, pred, conf, secs = [], [], [], []
    for k, it in enumerate(items):
        t0 = time.perf_counter()
        v = verifier.check(it["claim"], it["passages"])
        secs.append(time.perf_counter() - t0)
        gold.append(it["label"])
        pred.append(v.label)
        conf.append(float(v.confidence))
        if (k + 1) % 25 == 0:
            print(f"  checked {k + 1}/{len(items)}", file=sys.stderr, flush=True)
    return gold, pred, conf, secs


def baselines(items: list[dict]) -> None:
    gold = [it["label"] for it in items]
    med = statistics.median(len(it["claim"].split()) for it in items)
    show("baseline: claim length", gold,
         ["supported" if len(it["claim"].split()) <= med else "unsupported" for it in items])
    words = []
    for it in items:
        have = content_words(" ".join(p.chunk.text for p in it["passages"]))
        words.append("supported" if content_words(it["claim"]) <= have else "unsupported")
    show("baseline: words in evidence", gold, words)


# ---- the probe ------------------------------------------------------------------------------
def _group(row: dict) -> str:
    return row["id"].split("-")[0]


def _balance(rows: list[dict], y: np.ndarray) -> np.ndarray:
    """Sample weights: each (set, class) cell weighs the same."""
    cells = [f"{_group(r)}{yy}" for r, yy in zip(rows, y, strict=True)]
    counts = {c: cells.count(c) for c in set(cells)}
    w = np.array([1.0 / counts[c] for c in cells])
    return w * len(w) / w.sum()


def hidden_rows(items: list[dict], judge, verifier, cache_path: Path) -> list[dict]:
    """The probed layer's reading of each training claim (cached by id)."""
    cache: dict[str, list[float]] = {}
    if cache_path.exists():
        for line in cache_path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            cache[row["id"]] = row["hidden"]
    out = []
    with cache_path.open("a", encoding="utf-8") as fh:
        for k, it in enumerate(items):
            if it["id"] not in cache:
                sents = [s for s in verifier.sentence_scorer.sentences(it["claim"],
                                                                       it["passages"])
                         if not s.injection]
                if not sents:
                    continue
                judge.scores(it["claim"], verifier._judge_evidence(sents))
                cache[it["id"]] = [round(float(x), 3) for x in judge.last_hidden]
                fh.write(json.dumps({"id": it["id"], "hidden": cache[it["id"]]}) + "\n")
                if (k + 1) % 25 == 0:
                    print(f"  read {k + 1}/{len(items)}", file=sys.stderr, flush=True)
            out.append({"id": it["id"], "label": it["label"], "hidden": cache[it["id"]]})
    return out


def _sha_files(names: Iterable[str]) -> dict[str, str]:
    out = {}
    for name in names:
        p = SHARED / name
        if p.exists():
            out[name] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def fit_probe(train: list[dict], layers: tuple[int, ...], model_sha256: str,
              provenance: dict):
    """The middle-layer probe: a logistic regression on the standardised hidden state (C
    chosen by 5-fold CV, each set and class weighing the same), fitted on all training rows."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    from assistant.verify.probe import Probe

    use = [r for r in train if r.get("hidden") is not None]
    x = np.array([r["hidden"] for r in use], dtype=np.float64)
    y = np.array([r["label"] == "supported" for r in use])
    w = _balance(use, y)
    mu, sd = x.mean(0), x.std(0) + 1e-6
    z = (x - mu) / sd
    groups = np.array([_group(r) for r in use])
    masks = {str(g): groups == g for g in sorted(set(groups))}
    strata = [f"{g}{yy}" for g, yy in zip(groups, y, strict=True)]
    folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(z, strata))
    best = None
    for c in PROBE_CS:
        oof = np.zeros(len(use))
        for a, b in folds:
            m = LogisticRegression(C=c, max_iter=5000).fit(z[a], y[a], sample_weight=w[a])
            oof[b] = m.decision_function(z[b])
        aucs = {g: roc_auc_score(y[idx], oof[idx]) for g, idx in masks.items()}
        mean_auc = statistics.fmean(a for g, a in aucs.items() if g != "climate")
        print(f"probe C={c}: out-of-fold AUC " + ", ".join(f"{g} {a:.3f}" for g, a in
                                                        aucs.items()), file=sys.stderr)
        if best is None or mean_auc > best[0]:
            best = (mean_auc, c, oof, aucs)
    _, c, _, aucs = best
    m = LogisticRegression(C=c, max_iter=5000).fit(z, y, sample_weight=w)
    coef = m.coef_[0] / sd
    bias = float(m.intercept_[0] - np.dot(coef, mu))
    probe = Probe(layers=layers, weights=coef.astype(np.float32), bias=bias,
                  model_sha256=model_sha256, positions=POSITIONS_READ,
                  meta={"C": c, "n_train": len(use),
                        "oof_auc": {g: round(a, 3) for g, a in aucs.items()},
                        **provenance})
    return probe


def _provenance(n_extra: int) -> dict:
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip()
    build = REPO / ".venv" / ".llama-cpp-build"
    return {"fitted_by": f"bench/verify.py --write-probe --extra {n_extra}", "commit": commit,
            "llama_cpp_build": build.read_text().strip() if build.exists() else "",
            "data_sha256": _sha_files(TRAIN_FILES)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100, help="claims per test set (HaluEval: n/2 pairs)")
    ap.add_argument("--no-judge", action="store_true", help="the cheap path only")
    ap.add_argument("--threads", type=int, default=2, help="llama.cpp threads for the judge")
    ap.add_argument("--write-probe", action="store_true",
                    help="refit the judge's probe on the training splits and write it")
    ap.add_argument("--train", type=int, default=500, help="training claims per train set")
    ap.add_argument("--extra", type=int, default=1400, help="CLIMATE-FEVER training claims")
    args = ap.parse_args(argv)

    from assistant.index.embed import Embedder
    from assistant.verify import LocalJudge, Verifier
    from assistant.verify.probe import PROBE_PATH, Probe

    judge, model = None, None
    if not args.no_judge or args.write_probe:
        from assistant.llm.local import LocalModel

        s = Settings(_env_file=None)
        model = LocalModel(s.model_path, s.cache_dir, args.threads, 2048)
        judge = LocalJudge(model, probe=Probe.load(model.sha256))
    if args.write_probe:
        assert model is not None and judge is not None
        n = model.llama.n_embd() * len(PROBE_LAYERS) * len(POSITIONS_READ)
        judge.probe = Probe(PROBE_LAYERS, np.zeros(n, np.float32), 0.0, model.sha256, {},
                            POSITIONS_READ)  # capture only: the probe is refitted here
        verifier = Verifier(Embedder(), judge=judge)
        cache = Path(tempfile.gettempdir()) / "assistant_probe_hidden_v4.jsonl"
        items = (scifact("train", args.train)
                 + vitaminc([f"train_{i}.jsonl" for i in range(5)], args.train)
                 + halueval(args.train // 2, train=True) + climate_fever(args.extra))
        rows = hidden_rows(items, judge, verifier, cache)
        probe = fit_probe(rows, PROBE_LAYERS, model.sha256, _provenance(args.extra))
        PROBE_PATH.write_text(json.dumps(probe.to_json()) + "\n", encoding="utf-8")
        print(f"wrote {PROBE_PATH.relative_to(REPO)}: {probe.meta}")
        return 0

    verifier = Verifier(Embedder(), judge=judge)
    sets = {
        "SciFact dev": scifact("dev", args.n),
        "VitaminC test": vitaminc(["test.jsonl"], args.n),
        "HaluEval QA": halueval(args.n // 2),
    }
    path = "cheap path (no judge)" if judge is None else "with the judge"
    for name, items in sets.items():
        print(f"\n== {name}, {path}: n={len(items)} (gold S/C/U = "
              + "/".join(str(sum(it["label"] == g for it in items)) for g in LABELS) + ")")
        verifier.sentence_scorer.clear()  # each test set starts cold
        gold, pred, conf, secs = run_set(items, verifier)
        show("verifier", gold, pred, conf)
        baselines(items)
        print(f"  median latency per claim {statistics.median(secs):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
