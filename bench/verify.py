"""Benchmark of the claim verifier: each signal alone, the cheap path, the combination.

Sets (under ../shared/bench, never copied into the repo), deterministic subsamples:

- SciFact dev (``scifact/claims_dev.jsonl``): evidence = the cited abstracts from
  ``corpus_subset.jsonl``; labels supported / contradicted / unsupported (claims without
  evidence sentences are labelled unsupported in the file).
- VitaminC test (``vitaminc_sample/test.jsonl``): supports / refutes / not enough info.
- HaluEval QA (``halueval/qa_seed_one-turn_500.jsonl``): per pair, the claim
  "Question: ... Answer: ..." with the right answer is supported by the knowledge, with the
  hallucinated answer it is not (gold unsupported).

Thresholds are fitted on training splits only (``scifact/claims_train.jsonl``,
``vitaminc_sample/train_*.jsonl`` and, as HaluEval has no train split, HaluEval pairs from
position 250 of the fixed shuffle while the test sample takes pairs before it), never on
the test items; the objective is the mean over the three training sets. Printed per set
and method: n, balanced accuracy (supported vs not), 3-way confusion matrix (rows gold,
columns predicted: S / C / U), median latency per claim.

The judge's probe (``assistant/verify/probe.py``) is refitted here every run from the
hidden states the judge captured on the training claims (``--capture-layers``, of which
the probe reads ``--probe-layers``): C by 5-fold CV, and the score weights are fitted on
its out-of-fold scores, so neither sees the probe's in-sample optimism; ``--extra N`` adds
N CLIMATE-FEVER claims to the probe's training rows (never to the score fit nor the
tests); ``--write-probe`` saves it as the packaged probe. The product's local judge reads
the probe only (llama.cpp stops at the probe's layer); ``--yes-no`` also reads the Yes/No
log-odds of a full forward pass (untimed) for the train and test claims, which fits the
weights used by judges without a probe and prints the Yes/No judge alone. Signal values,
judge scores and hidden states are cached in the temp dir, so that a rerun only refits
and reprints. Each test set is measured with an empty sentence-vector cache (cold).

Usage: ``.venv/bin/python bench/verify.py [--n 100] [--train 500] [--extra 1400]
[--yes-no] [--write-probe] [--no-probe] [--no-judge]`` (``--train 500`` takes every
training claim: SciFact 345, VitaminC 300, HaluEval 250 pairs; the packaged probe was
fitted with ``--train 500 --extra 1400 --yes-no --write-probe``, which takes about 70
minutes from an empty cache on 2 cores).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, fields, replace
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared" / "bench"

from assistant.config import Settings  # noqa: E402
from assistant.models import Chunk, Passage  # noqa: E402
from assistant.verify.decide import (  # noqa: E402
    ScoreWeights,
    Signals,
    Thresholds,
    cheap,
    decide,
    judge_rule,
)

LABELS = ("supported", "contradicted", "unsupported")
REFRESH_CHEAP = False
POSITIONS_READ: tuple[str, ...] = ("last",)  # --probe-positions
VITC = {"supports": "supported", "refutes": "contradicted", "not enough info": "unsupported"}


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


# ---- measuring --------------------------------------------------------------------------------
YES_NO_JUDGE = None  # --yes-no: a LocalJudge without probe, for the Yes/No log-odds
SIGNAL_FIELDS = {f.name for f in fields(Signals)} - {"judge"}


def measure(items: list[dict], verifier, use_judge: bool, cache_path: Path,
            yes_no: bool = True) -> list[dict]:
    cache: dict[str, dict] = {}
    if cache_path.exists():
        for row in _jsonl(cache_path):
            cache[row["id"]] = row
    out = []
    with cache_path.open("a", encoding="utf-8") as fh:
        for k, it in enumerate(items):
            row = cache.get(it["id"])
            # rows cached before a signal existed are refreshed (and stored again), never
            # read as its default
            stale = row is not None and bool(SIGNAL_FIELDS - set(row["signals"]))
            if row is not None and (REFRESH_CHEAP or stale):
                t0 = time.perf_counter()
                sig, _ = verifier.measure(it["claim"], it["passages"], use_judge=False)
                row = dict(row, signals=asdict(replace(sig, judge=None)),
                           cheap_s=time.perf_counter() - t0)
                if stale:
                    fh.write(json.dumps(row) + "\n")
            if row is None or (use_judge and row.get("judge") is None):
                t0 = time.perf_counter()
                sig, sents = verifier.measure(it["claim"], it["passages"], use_judge=False)
                cheap_s = time.perf_counter() - t0
                judge, judge_s = None, 0.0
                if use_judge and sig.has_evidence:
                    t1 = time.perf_counter()
                    judge = verifier.judge.scores(it["claim"], verifier._judge_evidence(sents))
                    judge_s = time.perf_counter() - t1
                    # (a "probe" here is the placeholder's 0.0: the probe fitted below
                    # rescores every row from its "hidden")
                row = {"id": it["id"], "signals": asdict(replace(sig, judge=None)),
                       "judge": judge, "cheap_s": cheap_s, "judge_s": judge_s}
                hidden = getattr(verifier.judge, "last_hidden", None) if judge else None
                if hidden is not None:
                    row["hidden"] = [round(float(x), 3) for x in hidden]
                fh.write(json.dumps(row) + "\n")
                fh.flush()
                if (k + 1) % 10 == 0:
                    print(f"  measured {k + 1}/{len(items)}", file=sys.stderr, flush=True)
            if (yes_no and YES_NO_JUDGE is not None and row.get("judge")
                    and "true" not in row["judge"]):
                # not timed: the product's local judge reads the probe only
                _, sents = verifier.measure(it["claim"], it["passages"], use_judge=False)
                true = YES_NO_JUDGE.scores(it["claim"], verifier._judge_evidence(sents))["true"]
                row = dict(row, judge=dict(row["judge"], true=true))
                fh.write(json.dumps(row) + "\n")
                fh.flush()
            row = dict(row)
            row["label"] = it["label"]
            out.append(row)
    return out


def _signals(row: dict, with_judge: bool) -> Signals:
    s = dict(row["signals"])
    s["numbers"] = tuple(s["numbers"])
    s["missing_entities"] = tuple(s["missing_entities"])
    s["judge"] = row["judge"] if with_judge else None
    return Signals(**s)


# ---- methods ----------------------------------------------------------------------------------
Method = Callable[[dict, Thresholds], tuple[str, float]]  # (label, latency seconds)


def m_numbers(row: dict, t: Thresholds) -> tuple[str, float]:
    nums = row["signals"]["numbers"]
    if "mismatch" in nums:
        lab = "contradicted"
    elif nums and all(n == "match" for n in nums):
        lab = "supported"
    else:
        lab = "unsupported"
    return lab, row["cheap_s"]


def m_entities(row: dict, t: Thresholds) -> tuple[str, float]:
    ok = row["signals"]["has_evidence"] and not row["signals"]["missing_entities"]
    return ("supported" if ok else "unsupported"), row["cheap_s"]


def m_similarity(row: dict, t: Thresholds) -> tuple[str, float]:
    ok = row["signals"]["has_evidence"] and row["signals"]["sim"] >= t.fallback_sim
    return ("supported" if ok else "unsupported"), row["cheap_s"]


def m_role(row: dict, t: Thresholds) -> tuple[str, float]:
    ok = row["signals"]["has_evidence"] and not row["signals"]["doubtful"]
    return ("supported" if ok else "unsupported"), row["cheap_s"]


def m_novel(row: dict, t: Thresholds) -> tuple[str, float]:
    ok = row["signals"]["has_evidence"] and row["signals"]["novel"] <= 0.2
    return ("supported" if ok else "unsupported"), row["cheap_s"]


def m_judge_naive(row: dict, t: Thresholds) -> tuple[str, float]:
    j = row["judge"]
    if not j or "true" not in j:
        return "unsupported", row["judge_s"]
    return ("supported" if j["true"] >= 0 else "unsupported"), row["judge_s"]


def m_probe(row: dict, t: Thresholds) -> tuple[str, float]:
    j = row["judge"]
    if not j or "probe" not in j:
        return "unsupported", row["judge_s"]
    return ("supported" if j["probe"] >= 0 else "unsupported"), row["judge_s"]


def m_judge(row: dict, t: Thresholds) -> tuple[str, float]:
    """Rule 6 alone (the fitted score over the judge and the cheap signals), no cheap path."""
    if not row["judge"]:
        return "unsupported", row["judge_s"]
    return judge_rule(_signals(row, True), t).label, row["judge_s"]


def m_cheap(row: dict, t: Thresholds) -> tuple[str, float]:
    return decide(_signals(row, False), t).label, row["cheap_s"]


def m_combined(row: dict, t: Thresholds) -> tuple[str, float]:
    s = _signals(row, True)
    needs_judge = cheap(s, t) is None
    lat = row["cheap_s"] + (row["judge_s"] if needs_judge else 0.0)
    return decide(s, t).label, lat


METHODS: dict[str, Method] = {
    "numbers alone": m_numbers,
    "entities alone": m_entities,
    "similarity alone": m_similarity,
    "role/doubt alone": m_role,
    "claim words alone": m_novel,
    "judge, Yes >= No (naive)": m_judge_naive,
    "probe alone (>= 0)": m_probe,
    "judge score, no cheap path": m_judge,
    "cheap path alone": m_cheap,
    "combination": m_combined,
}


def score(rows: list[dict], method: Method, t: Thresholds) -> dict:
    conf = {g: dict.fromkeys(LABELS, 0) for g in LABELS}
    lats = []
    for r in rows:
        lab, lat = method(r, t)
        conf[r["label"]][lab] += 1
        lats.append(lat)
    pos = [r for r in rows if r["label"] == "supported"]
    neg = [r for r in rows if r["label"] != "supported"]
    tpr = conf["supported"]["supported"] / len(pos) if pos else 0.0
    fp = sum(conf[g]["supported"] for g in ("contradicted", "unsupported"))
    tnr = 1 - fp / len(neg) if neg else 0.0
    acc3 = sum(conf[g][g] for g in LABELS) / len(rows) if rows else 0.0
    return {"bacc": (tpr + tnr) / 2, "acc3": acc3, "conf": conf,
            "median_s": statistics.median(lats) if lats else 0.0}


def _group(row: dict) -> str:
    return row["id"].split("-")[0].replace("halufit", "halu")


def objective(rows: list[dict], method: Method, t: Thresholds) -> float:
    """Mean over the training sets of balanced accuracy + 0.25 x 3-way accuracy (so that no
    set dominates by size)."""
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(_group(r), []).append(r)
    vals = []
    for g in groups.values():
        sc = score(g, method, t)
        vals.append(sc["bacc"] + 0.25 * sc["acc3"])
    return statistics.fmean(vals)


def _balance(rows: list[dict], y: np.ndarray) -> np.ndarray:
    """Sample weights so that each training set and each class weighs the same."""
    count: dict[tuple[str, bool], int] = {}
    for r, yy in zip(rows, y, strict=True):
        count[(_group(r), bool(yy))] = count.get((_group(r), bool(yy)), 0) + 1
    w = np.array([1.0 / count[(_group(r), bool(yy))] for r, yy in zip(rows, y, strict=True)])
    return w * len(rows)


def fit_score(rows: list[dict], base: Thresholds) -> Thresholds:
    """Rule 6's score as a logistic regression of supported-vs-not on the judge's log-odds
    (and, where the judge gave one, the probe's), claim words absent from the evidence, an
    absent claim number, similarity and a claim bound that the evidence satisfies; each
    training set and each class weighs the same. The raw coefficients are kept, so
    ``score - cut`` is the regression's log-odds. Fits ``yes_no`` always and
    ``with_probe`` when the rows carry probe scores."""
    from sklearn.linear_model import LogisticRegression

    out = {}
    for key, names in (("yes_no", ["true"]), ("with_probe", ["probe"])):
        use = [r for r in rows if r["judge"] and all(k in r["judge"] for k in names)]
        if not use:
            continue
        y = np.array([r["label"] == "supported" for r in use])
        x = np.array([[r["judge"][k] for k in names]
                      + [r["signals"]["novel"], float("absent" in r["signals"]["numbers"]),
                         r["signals"]["sim"], float(r["signals"]["bounds_hold"])]
                      for r in use])
        m = LogisticRegression(C=1.0, max_iter=5000).fit(x, y, sample_weight=_balance(use, y))
        coef, b = [float(c) for c in m.coef_[0]], float(m.intercept_[0])
        if coef[0] <= 0:
            raise SystemExit(f"{key}: the judge score got a negative weight: refusing the fit")
        wn, wa, ws, wb = coef[-4:]
        out[key] = ScoreWeights(
            cut=round(-b, 3), absent=round(-wa, 3), novel=round(-wn, 3), sim=round(ws, 3),
            bound=round(wb, 3),
            true=round(coef[0], 3) if key == "yes_no" else 0.0,
            probe=round(coef[0], 3) if key == "with_probe" else 0.0,
        )
    return replace(base, yes_no=out.get("yes_no", base.yes_no),
                   with_probe=out.get("with_probe", base.with_probe))


PROBE_CS = (0.0001, 0.0003, 0.001, 0.003)


def _columns(captured: tuple[int, ...], layers: tuple[int, ...], size: int) -> np.ndarray:
    """Indices of ``layers`` inside a cached reading of ``size`` floats: per probe position,
    the ``captured`` layers one after the other (every position is kept)."""
    width = size // (len(captured) * len(POSITIONS_READ))
    per = len(captured) * width
    return np.concatenate([np.arange(width) + p * per + captured.index(la) * width
                           for p in range(len(POSITIONS_READ)) for la in layers])


def _layers(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(","))


def fit_probe(train: list[dict], captured: tuple[int, ...], layers: tuple[int, ...],
              model_sha256: str):
    """The middle-layer probe: a logistic regression on the standardised hidden state (C
    chosen by 5-fold CV, each set and class weighing the same). Returns the probe fitted on
    all training rows and out-of-fold scores for them (so that the score fit above never
    sees the probe's in-sample optimism)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    from assistant.verify.probe import Probe

    use = [r for r in train if r.get("hidden") is not None and r["judge"]]
    x = np.array([r["hidden"] for r in use], dtype=np.float64)
    x = x[:, _columns(captured, layers, x.shape[1])]
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
    _, c, oof, aucs = best
    m = LogisticRegression(C=c, max_iter=5000).fit(z, y, sample_weight=w)
    coef = m.coef_[0] / sd
    bias = float(m.intercept_[0] - np.dot(coef, mu))
    # the Yes/No log-odds on the same rows, where the cache has them (for comparison)
    has = np.array(["true" in r["judge"] for r in use])
    true = np.array([r["judge"].get("true", 0.0) for r in use])
    yes_no_auc = {g: round(roc_auc_score(y[idx & has], true[idx & has]), 3)
                  for g, idx in masks.items() if (idx & has).any()}
    probe = Probe(layers=layers, weights=coef.astype(np.float32), bias=bias,
                  model_sha256=model_sha256, positions=POSITIONS_READ,
                  meta={"C": c, "n_train": len(use),
                        "oof_auc": {g: round(a, 3) for g, a in aucs.items()},
                        "yes_no_auc": yes_no_auc,
                        "fitted_by": "bench/verify.py --write-probe"})
    for r, s in zip(use, oof, strict=True):
        r["judge"] = dict(r["judge"], probe=float(s))
    return probe


def fit(rows: list[dict], judge: bool) -> Thresholds:
    """Grid search on training rows: similarity threshold, judge thresholds, cheap cut-offs."""
    best = -1.0
    for fs, fn in itertools.product([x / 100 for x in range(30, 90, 2)],
                                    [0.1, 0.2, 0.3, 0.4, 0.5, 1.0]):
        s = objective(rows, m_cheap, replace(Thresholds(), fallback_sim=fs, fallback_novel=fn))
        if s > best:
            best, fs_best, fn_best = s, fs, fn
    base = replace(Thresholds(), fallback_sim=fs_best, fallback_novel=fn_best)
    if judge:
        base = fit_score(rows, base)
        best = -1.0
        for cs, cm in itertools.product([0.3, 0.45, 0.6, 0.75, 2.0],
                                        [-0.5, -1.0, -1.5, -2.0, -3.0, -5.0]):
            t = replace(base, contra_sim=cs, contra_margin=cm)
            val = objective(rows, m_judge, t)
            if val > best + 1e-9:
                best, base_c = val, t
        base = base_c
    method = m_combined if judge else m_cheap
    best = -1.0
    best_t = base
    for ss, sc_, rs, sn, ue, ns in itertools.product(
        [0.78, 0.86, 0.95, 2.0], [0.7, 0.85, 1.0], [0.15, 0.25, 0.35], [0.0, 0.1, 0.25],
        [True, False], [0.45, 0.6, 0.75, 2.0],
    ):
        t = replace(base, support_sim=ss, support_cov=sc_, reject_sim=rs, support_novel=sn,
                    use_entities=ue, number_support_sim=ns)
        val = objective(rows, method, t)
        if val > best + 1e-9:
            best, best_t = val, t
    return best_t


def report(name: str, rows: list[dict], t: Thresholds, judge: bool) -> None:
    print(f"\n== {name}: n={len(rows)} (gold S/C/U = "
          + "/".join(str(sum(r['label'] == g for r in rows)) for g in LABELS) + ")")
    print(f"{'method':28s} {'bal.acc':>7s} {'3-way':>6s} {'median s':>9s}   confusion "
          "(rows gold S,C,U; cols pred S,C,U)")
    has_yes_no = any(r["judge"] and "true" in r["judge"] for r in rows)
    for mname, m in METHODS.items():
        if not judge and "judge" in mname:
            continue
        if m is m_judge_naive and not has_yes_no:
            continue
        if not judge and mname == "combination":
            continue
        r = score(rows, m, t)
        cm = " | ".join(" ".join(f"{r['conf'][g][p]:3d}" for p in LABELS) for g in LABELS)
        print(f"{mname:28s} {r['bacc']:7.3f} {r['acc3']:6.3f} {r['median_s']:9.3f}   {cm}")
    if judge:
        n_j = sum(cheap(_signals(r, True), t) is None for r in rows)
        cheap_ms = statistics.median(r["cheap_s"] for r in rows) * 1000
        judge_s = statistics.median([r["judge_s"] for r in rows if r["judge"]] or [0])
        print(f"combination: judge asked for {n_j}/{len(rows)} claims; "
              f"median cheap-path time {cheap_ms:.1f} ms; median judge call {judge_s:.2f} s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100, help="claims per test set (HaluEval: n/2 pairs)")
    ap.add_argument("--train", type=int, default=60, help="training claims per train set")
    ap.add_argument("--no-judge", action="store_true", help="cheap signals only")
    ap.add_argument("--cache", type=Path, default=None,
                    help="signal cache (default: one per judge-evidence setting in the temp dir)")
    ap.add_argument("--judge-sentences", type=int, default=None,
                    help="evidence sentences shown to the judge (default: the product's)")
    ap.add_argument("--judge-chars", type=int, default=None,
                    help="evidence characters shown to the judge (default: the product's)")
    ap.add_argument("--threads", type=int, default=2, help="llama.cpp threads for the judge")
    ap.add_argument("--torch-threads", type=int, default=0,
                    help="torch threads of the embedding model (default: torch's, as in the "
                         "product; 1 on a busy machine)")
    ap.add_argument("--refresh-cheap", action="store_true",
                    help="recompute the cheap signals, keep cached judge scores")
    ap.add_argument("--capture-layers", type=_layers, default=None,
                    help="layers the judge reads and the cache keeps, e.g. 12,16 (default: "
                         "the packaged probe's, else 16)")
    ap.add_argument("--probe-layers", type=_layers, default=None,
                    help="the captured layers the probe is fitted on (default: all)")
    ap.add_argument("--probe-positions", type=lambda t: tuple(t.split(",")), default=None,
                    help="prompt tokens the probe reads at, e.g. claim_end,last (default: the "
                         "packaged probe's)")
    ap.add_argument("--no-probe", action="store_true", help="the Yes/No log-odds only")
    ap.add_argument("--extra", type=int, default=0,
                    help="CLIMATE-FEVER claims added to the probe's training rows (not to the "
                         "score fit nor the tests)")
    ap.add_argument("--yes-no", action="store_true",
                    help="also read the Yes/No log-odds (a full forward pass, untimed) of the "
                         "train and test claims: fits the weights for judges without a probe")
    ap.add_argument("--write-probe", action="store_true",
                    help="write the probe fitted here to assistant/verify/probe.json")
    args = ap.parse_args(argv)
    global REFRESH_CHEAP, YES_NO_JUDGE, POSITIONS_READ

    if args.torch_threads:  # under CPU contention one torch thread is ~10x faster than two
        import torch

        torch.set_num_threads(args.torch_threads)
    from assistant.embed import Embedder
    from assistant.verify import LocalJudge, Verifier

    judge, model, captured = None, None, ()
    if not args.no_judge:
        from assistant.llm import LocalModel
        from assistant.verify.probe import POSITIONS, Probe

        s = Settings(_env_file=None)
        model = LocalModel(s.model_path, s.cache_dir, args.threads, 2048)
        judge = LocalJudge(model)
        if args.judge_chars:
            judge.max_evidence_chars = args.judge_chars
        if not args.no_probe:
            if model.sha256 is None:
                raise SystemExit("the probe needs the packaged model (unset ASSISTANT_MODEL_PATH)"
                                 " or --no-probe")
            packaged = Probe.load(model.sha256)
            captured = args.capture_layers or (packaged.layers if packaged else (16,))
            POSITIONS_READ = args.probe_positions or (packaged.positions if packaged
                                                      else ("last",))
            if not set(POSITIONS_READ) <= set(POSITIONS):
                raise SystemExit(f"--probe-positions: choose from {POSITIONS}")
            # the judge only has to capture the layers; the bench refits the probe itself
            n = model.llama.n_embd() * len(captured) * len(POSITIONS_READ)
            judge.probe = Probe(captured, np.zeros(n, np.float32), 0.0, model.sha256, {},
                                POSITIONS_READ)
    REFRESH_CHEAP = args.refresh_cheap
    if args.yes_no and model is not None and not args.no_probe:
        YES_NO_JUDGE = LocalJudge(model, max_evidence_chars=judge.max_evidence_chars)
    verifier = Verifier(Embedder(), judge=judge)
    if args.judge_sentences:
        verifier.judge_sentences = args.judge_sentences
    if args.cache is None:
        chars = judge.max_evidence_chars if judge is not None else 0
        tag = "-".join(map(str, captured))
        if POSITIONS_READ != ("last",):
            tag += "_" + "-".join(POSITIONS_READ)
        args.cache = Path(tempfile.gettempdir()) / (
            f"assistant_verify_bench_v3_s{verifier.judge_sentences}_c{chars}_l{tag}.jsonl"
        )
    print(f"signal cache: {args.cache}", file=sys.stderr)
    use_judge = judge is not None

    print(f"fitting on train splits: SciFact train n={args.train}, VitaminC train n={args.train},"
          f" HaluEval pairs {HALU_TRAIN_FROM}+ n={args.train}", file=sys.stderr)
    train = measure(
        scifact("train", args.train)
        + vitaminc([f"train_{i}.jsonl" for i in range(5)], args.train)
        + halueval(args.train // 2, train=True),
        verifier, use_judge, args.cache,
    )
    extra = measure(climate_fever(args.extra), verifier, use_judge, args.cache,
                    yes_no=False) if args.extra else []
    probe = None
    if captured and model is not None:
        layers = args.probe_layers or captured
        probe = fit_probe(train + extra, captured, layers, model.sha256)
        print(f"probe on layers {layers}: {probe.meta}")
        if args.write_probe:
            from assistant.verify.probe import PROBE_PATH

            PROBE_PATH.write_text(json.dumps(probe.to_json()) + "\n", encoding="utf-8")
            print(f"wrote {PROBE_PATH.relative_to(REPO)}")
    t = fit(train, use_judge)
    print("fitted thresholds (train splits only):", asdict(t))
    report("TRAIN (fit data, for reference)", train, t, use_judge)

    sets = {
        "SciFact dev": scifact("dev", args.n),
        "VitaminC test": vitaminc(["test.jsonl"], args.n),
        "HaluEval QA": halueval(args.n // 2),
    }
    for name, items in sets.items():
        print(f"measuring {name} ({len(items)} claims)", file=sys.stderr)
        verifier.scorer.clear()  # each test set starts cold (no sentence embedded yet)
        rows = measure(items, verifier, use_judge, args.cache)
        if probe is not None:
            for r in rows:
                if r["judge"] and r.get("hidden") is not None:
                    hidden = np.asarray(r["hidden"], np.float32)
                    hidden = hidden[_columns(captured, probe.layers, hidden.size)]
                    r["judge"] = dict(r["judge"], probe=probe.score(hidden))
        report(name, rows, t, use_judge)
    return 0


if __name__ == "__main__":
    sys.exit(main())
