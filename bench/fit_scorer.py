"""Fit the verifier's 3-way scorer on generated claim pairs; print validation figures.

``.venv/bin/python bench/fit_scorer.py [--write] [--no-judge] [--limit N] [--valid-limit N]``

1. Pairs: ``bench/pairs.py`` output (train / valid, split by article; the development
   set's articles are in neither), rebuilt here when missing.
2. The news corpus (``../shared/news/articles``) is indexed once into a cache folder, and
   each pair's claim is checked the way ``assistant check`` does it: retrieval over the
   whole corpus, ranked evidence sentences, the structured features, and the local judge's
   probe reading (cached on disk by claim and evidence, so a rerun only refits).
3. Two multinomial logistic regressions (scikit-learn; balanced classes; C by 5-fold CV on
   train): ``cheap`` over :data:`assistant.verify.features.CHEAP`, ``judge`` over those
   plus the judge's reading. A temperature is fitted on the validation split (it changes
   confidences, never labels).
4. Printed, on the validation split, with n and bootstrap 95% intervals: balanced
   accuracy (supported vs not), 3-way macro-F1, contradicted recall, ECE; beside two
   trivial baselines (claim length; every claim word in the evidence) and an ablation that
   refits without each feature group.
5. ``--write`` saves ``assistant/verify/scorer.json`` with its provenance: the hashes of
   the pair files and of the corpus, the commit, the llama.cpp build and the probe.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pairs as pairs_mod  # noqa: E402
from _setup import CACHE, NEWS, REPO  # noqa: E402  (paths, offline models)

from assistant.config import Settings  # noqa: E402
from assistant.verify.features import CHEAP, JUDGE  # noqa: E402
from assistant.verify.numbers import content_words  # noqa: E402
from assistant.verify.scorer import (  # noqa: E402
    LABELS,
    SCORER_PATH,
    LinearModel,
    Scorer,
    split_by_judge,
)

# The overlap group is left out of both models: on validation it adds nothing once the
# structured comparisons are in (the ablation prints it put back), and its weights learned
# from rule-made paraphrases do not carry over to people's wording.
GROUPS = {
    "overlap": ("sim", "coverage", "novel", "best_novel", "replaced", "claim_words"),
    "numbers": ("num_match", "num_mismatch", "num_absent", "bound_holds", "num_mismatch_strength"),
    "names": ("names_missing", "name_swap"),
    "months": ("month_mismatch",),
    "polarity": ("polarity_mismatch",),
    "modality": ("planned_claim_only", "planned_evidence_only"),
    "direction": ("direction_mismatch",),
    "speaker": ("speaker_mismatch",),
    "judge": JUDGE,
}
MODEL_FEATURES = tuple(f for f in CHEAP if f not in GROUPS["overlap"])


# ---- data --------------------------------------------------------------------------------
def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _corpus_hash(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.glob("*.json")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def load_pairs(folder: Path) -> dict[str, list[dict]]:
    if not (folder / "train.jsonl").exists():
        pairs_mod.main(["--out", str(folder)])
    out = {}
    for split in ("train", "valid"):
        lines = (folder / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
        out[split] = [json.loads(x) for x in lines if x.strip()]
    return out


class CachedJudge:
    """The local judge with its readings (and probed hidden states) kept on disk."""

    name = "local"

    def __init__(self, judge: Any, folder: Path) -> None:
        self.judge = judge
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.index_path = folder / "scores.jsonl"
        self.scores_by_key: dict[str, dict[str, float]] = {}
        if self.index_path.exists():
            for line in self.index_path.read_text(encoding="utf-8").splitlines():
                row = json.loads(line)
                self.scores_by_key[row["key"]] = row["scores"]
        self.calls = 0

    @staticmethod
    def key(claim: str, evidence: list[str]) -> str:
        return hashlib.sha256(json.dumps([claim, evidence]).encode()).hexdigest()[:24]

    def scores(self, claim: str, evidence: list[str]) -> dict[str, float]:
        k = self.key(claim, list(evidence))
        if k in self.scores_by_key:
            return self.scores_by_key[k]
        scores = self.judge.scores(claim, evidence)
        self.calls += 1
        hidden = getattr(self.judge, "last_hidden", None)
        if hidden is not None:
            np.save(self.folder / f"{k}.npy", np.asarray(hidden, dtype=np.float32))
        self.scores_by_key[k] = scores
        with self.index_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"key": k, "scores": scores}) + "\n")
        return scores


def _blank_scorer() -> Scorer:
    feats = CHEAP + JUDGE
    n = len(feats)
    zero = LinearModel(feats, np.zeros(n), np.ones(n), np.zeros((3, n)), np.zeros(3))
    return Scorer(zero, zero, {})


def measure_rows(rows: list[dict], use_judge: bool, index_dir: Path,
                 judged: set[str] | None = None) -> list[dict]:
    """Features of every pair through the product path (retrieve over the whole corpus);
    the judge reads the pairs whose id is in ``judged`` (all when None)."""
    from assistant.service import Assistant
    from assistant.verify import LocalJudge, Verifier
    from assistant.verify.probe import Probe

    settings = Settings(index_dir=index_dir, backend="local", chroma_host=None)
    assistant = Assistant(settings)
    t0 = time.perf_counter()
    result = assistant.ingest([str(NEWS / "articles")])
    logging.info("index: %d added, %d unchanged (%.0f s)", len(result.added),
                 len(result.unchanged), time.perf_counter() - t0)
    judge = None
    if use_judge:
        model = assistant.local_model
        judge = CachedJudge(LocalJudge(model, probe=Probe.load(model.sha256)),
                            CACHE / "fit-judge")
    verifier = Verifier(assistant.embedder, judge=judge, scorer=_blank_scorer(),
                        skip_verbatim=False)  # the fit reads the judge on every claim
    out = []
    t0 = time.perf_counter()
    for i, row in enumerate(rows):
        passages = assistant.retriever.retrieve(row["claim"])
        m = verifier.measure(row["claim"], passages,
                             use_judge=judged is None or row["id"] in judged)
        quotes = [s.text for s in m.sents[:3]]
        out.append({**row, "values": dict(m.features.values), "quotes": quotes})
        if (i + 1) % 50 == 0:
            rate = (time.perf_counter() - t0) / (i + 1)
            logging.info("measured %d/%d (%.2f s/claim, judge calls %s)", i + 1, len(rows),
                         rate, judge.calls if judge else "-")
    return out


# ---- fitting -----------------------------------------------------------------------------
def _xy(rows: list[dict], feats: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    x = np.array([[float(r["values"].get(f, 0.0)) for f in feats] for r in rows])
    y = np.array([LABELS.index(r["label"]) for r in rows])
    return x, y


def fit_model(rows: list[dict], feats: tuple[str, ...]) -> LinearModel:
    from sklearn.linear_model import LogisticRegressionCV

    x, y = _xy(rows, feats)
    mean, scale = x.mean(0), x.std(0)
    scale[scale < 1e-6] = 1.0
    clf = LogisticRegressionCV(Cs=[0.01, 0.03, 0.1, 0.3, 1.0, 3.0], cv=5, max_iter=2000,
                               class_weight="balanced", scoring="neg_log_loss")
    clf.fit((x - mean) / scale, y)
    return LinearModel(feats, mean, scale, clf.coef_.astype(np.float64),
                       clf.intercept_.astype(np.float64))


def fit_temperature(model: LinearModel, rows: list[dict]) -> LinearModel:
    """The temperature minimising the validation log-loss (labels unchanged)."""
    y = [LABELS.index(r["label"]) for r in rows]
    z = np.array([model.logits(r["values"]) for r in rows])
    best, best_t = float("inf"), 1.0
    for t in np.exp(np.linspace(np.log(0.3), np.log(4.0), 60)):
        zt = z / t
        zt = zt - zt.max(1, keepdims=True)
        logp = zt - np.log(np.exp(zt).sum(1, keepdims=True))
        nll = -float(np.mean(logp[np.arange(len(y)), y]))
        if nll < best:
            best, best_t = nll, float(t)
    return LinearModel(model.features, model.mean, model.scale, model.coef, model.intercept,
                       best_t)


# ---- metrics -----------------------------------------------------------------------------
def metrics(gold: list[str], pred: list[str], conf: list[float] | None = None) -> dict:
    g, p = np.array(gold), np.array(pred)
    pos = g == "supported"
    tpr = float(np.mean(p[pos] == "supported")) if pos.any() else float("nan")
    tnr = float(np.mean(p[~pos] != "supported")) if (~pos).any() else float("nan")
    f1s = []
    for lab in LABELS:
        tp = float(np.sum((p == lab) & (g == lab)))
        prec = tp / max(1, np.sum(p == lab))
        rec = tp / max(1, np.sum(g == lab))
        f1s.append(0.0 if prec + rec == 0 else 2 * prec * rec / (prec + rec))
    con = g == "contradicted"
    out = {
        "bal_acc": (tpr + tnr) / 2,
        "macro_f1": float(np.mean(f1s)),
        "contra_recall": float(np.mean(p[con] == "contradicted")) if con.any() else float("nan"),
        "acc3": float(np.mean(g == p)),
    }
    if conf is not None:
        c = np.array(conf)
        correct = (g == p).astype(float)
        bins = np.minimum((c * 10).astype(int), 9)
        out["ece"] = float(sum(
            np.sum(bins == b) / len(c) * abs(correct[bins == b].mean() - c[bins == b].mean())
            for b in range(10) if np.any(bins == b)
        ))
    return out


def bootstrap(gold: list[str], pred: list[str], conf: list[float] | None,
              n: int = 1000, seed: int = 3) -> dict[str, tuple[float, float]]:
    rng = np.random.default_rng(seed)
    idx = np.arange(len(gold))
    samples: dict[str, list[float]] = {}
    for _ in range(n):
        pick = rng.choice(idx, len(idx))
        m = metrics([gold[i] for i in pick], [pred[i] for i in pick],
                    [conf[i] for i in pick] if conf is not None else None)
        for k, v in m.items():
            samples.setdefault(k, []).append(v)
    return {k: (float(np.nanpercentile(v, 2.5)), float(np.nanpercentile(v, 97.5)))
            for k, v in samples.items()}


def show(name: str, gold: list[str], pred: list[str], conf: list[float] | None = None) -> dict:
    m = metrics(gold, pred, conf)
    ci = bootstrap(gold, pred, conf)
    parts = [f"{k} {v:.3f} [{ci[k][0]:.3f}, {ci[k][1]:.3f}]" for k, v in m.items()]
    print(f"  {name:<28} n={len(gold)}  " + "  ".join(parts))
    return {k: {"value": round(v, 4), "ci95": [round(ci[k][0], 4), round(ci[k][1], 4)]}
            for k, v in m.items()}


def baselines(train: list[dict], valid: list[dict]) -> None:
    gold = [r["label"] for r in valid]
    med = float(np.median([len(r["claim"].split()) for r in train]))
    show("baseline: claim length", gold,
         ["supported" if len(r["claim"].split()) <= med else "unsupported" for r in valid])
    sub = []
    for r in valid:
        have = content_words(" ".join(r["quotes"]))
        sub.append("supported" if content_words(r["claim"]) <= have else "unsupported")
    show("baseline: words in evidence", gold, sub)


class _Predicting:
    """Anything with ``proba(values)``, for :func:`evaluate`."""

    def __init__(self, proba: Any) -> None:
        self.proba = proba


def evaluate(model: LinearModel | _Predicting, rows: list[dict], name: str) -> dict:
    probs = [model.proba(r["values"]) for r in rows]
    pred = [LABELS[int(np.argmax(p))] for p in probs]
    conf = [float(np.max(p)) for p in probs]
    return show(name, [r["label"] for r in rows], pred, conf)


def per_type(model: LinearModel | _Predicting, rows: list[dict]) -> None:
    by: dict[str, list[int]] = {}
    for r in rows:
        pred = LABELS[int(np.argmax(model.proba(r["values"])))]
        by.setdefault(f"{r['label'][:5]}/{r['perturbation']}", []).append(pred == r["label"])
    print("  per type (accuracy): " + ", ".join(
        f"{k} {np.mean(v):.2f} ({len(v)})" for k, v in sorted(by.items())))


def _provenance(pair_dir: Path, use_judge: bool) -> dict[str, Any]:
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip()
    build = (REPO / ".venv" / ".llama-cpp-build")
    probe = REPO / "assistant" / "verify" / "probe.json"
    return {
        "fitted_by": "bench/fit_scorer.py --write",
        "commit": commit,
        "llama_cpp_build": build.read_text().strip() if build.exists() else "",
        "probe_sha256": _sha(probe) if use_judge and probe.exists() else "",
        "pairs_sha256": {s: _sha(pair_dir / f"{s}.jsonl") for s in ("train", "valid")},
        "corpus_sha256": _corpus_hash(NEWS / "articles"),
        "generator": "bench/pairs.py (default seed and size)",
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=Path, default=CACHE / "pairs")
    ap.add_argument("--index", type=Path, default=CACHE / "fit-index")
    ap.add_argument("--no-judge", action="store_true")
    ap.add_argument("--judge-train", type=int, default=265,
                    help="train pairs the judge reads (the first N; ~3-4 s each on 2 cores)")
    ap.add_argument("--judge-valid", type=int, default=110,
                    help="validation pairs the judge reads (the first N)")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    data = load_pairs(args.pairs)
    train, valid = data["train"], data["valid"]
    use_judge = not args.no_judge
    judged = {r["id"] for r in train[: args.judge_train] + valid[: args.judge_valid]}
    rows = measure_rows(train + valid, use_judge, args.index, judged)
    train, valid = rows[: len(train)], rows[len(train):]
    (CACHE / "fit-rows.json").write_text(json.dumps({"train": train, "valid": valid}))
    print(f"\ntrain {len(train)} pairs, valid {len(valid)} pairs (split by article)")
    print("VALIDATION (bootstrap 95% intervals)")
    baselines(train, valid)
    cheap = fit_temperature(fit_model(train, MODEL_FEATURES), valid)
    figures = {"cheap": evaluate(cheap, valid, "scorer, cheap (all pairs)")}
    j_train = [r for r in train if "judge" in r["values"]]
    j_valid = [r for r in valid if "judge" in r["values"]]
    judge = None
    if use_judge and j_train and j_valid:
        print(f"judge read {len(j_train)} train and {len(j_valid)} validation pairs:")
        baselines(j_train, j_valid)
        evaluate(fit_temperature(fit_model(j_train, MODEL_FEATURES), j_valid), j_valid,
                 "scorer, cheap (same pairs)")
        judge = fit_temperature(fit_model(j_train, MODEL_FEATURES + JUDGE), j_valid)
        evaluate(judge, j_valid, "judge model's own 3 labels")
        product = Scorer(cheap, judge, {})
        split = _Predicting(lambda v: split_by_judge(judge.proba(v), cheap.proba(v)))
        figures["judge"] = evaluate(split, j_valid, "scorer, with judge")
        assert all(np.allclose(split.proba(r["values"]), list(
            product.predict(r["values"], judge=True).probs.values())) for r in j_valid[:5])
        per_type(split, j_valid)
    else:
        per_type(cheap, valid)
    print("ABLATION (validation; a group out of the model, or the unused one back in)")
    sets = [(cheap, train, valid)] + ([(judge, j_train, j_valid)] if judge else [])
    for model, tr, va in sets:
        feats = model.features
        for group, names in GROUPS.items():
            kept = tuple(f for f in feats if f not in names)
            if kept == feats:  # a group the model leaves out: measure it put back
                kept = feats + tuple(names)
                label = f"{'judge' if judge is model else 'cheap'} with {group}"
            else:
                label = f"{'judge' if judge is model else 'cheap'} without {group}"
            if all(f in CHEAP + JUDGE for f in kept) and (judge is model or "judge" not in kept):
                refit = fit_model(tr, kept)
                if judge is model:  # as the product reads it: the cheap model splits the rest
                    evaluate(_Predicting(lambda v, m=refit: split_by_judge(
                        m.proba(v), cheap.proba(v))), va, label)
                else:
                    evaluate(refit, va, label)
    if args.write:
        meta = {**_provenance(args.pairs, use_judge), "validation": figures,
                "n_train": len(train), "n_valid": len(valid)}
        scorer = Scorer(cheap, judge, meta)
        SCORER_PATH.write_text(json.dumps(scorer.to_json(), indent=1) + "\n", encoding="utf-8")
        print(f"wrote {SCORER_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
