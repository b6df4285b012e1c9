"""Retrieval benchmark: dense vs BM25 vs hybrid, nDCG@10 / Recall@10 / MRR@10, one run.

Data (read from ../shared/bench, never copied into the repo):
  - beir_subsets/scifact: 758 abstracts, 50 queries, qrels/test.tsv
  - beir_subsets/msmarco: 5,000 passages, 50 queries, qrels/test.tsv (graded 0-3)
  - scifact dev: queries_dev.jsonl (300 claims) over corpus_subset.jsonl (983 abstracts),
    scored with both qrels files: qrels_dev_beir_style_cited.tsv (the BEIR convention: every
    cited abstract, 300 queries) and qrels_dev_from_evidence.tsv (only abstracts with
    rationale sentences, 188 queries).
  - tuning set: scifact claims_train.jsonl whose cited abstracts are all in corpus_subset
    (323 claims, disjoint from the dev/test claims). Fusion weights are chosen here only.

Units are whole documents (title + text), one chunk per document. The real code is used
end to end: the packaged all-MiniLM-L6-v2 (``assistant.index.embed.Embedder``), the real Chroma
store in a temp dir (``assistant.index.store.Store``), our BM25 index (``assistant.index.bm25``) and
``assistant.retrieve.Retriever`` for the dense / bm25 / hybrid rows (candidates=30 per
retriever, k=10, near-duplicate merging and the per-article cap included - with one
document per article the cap never binds). The fusion-variant rows re-fuse the same
candidate lists with ``assistant.retrieve.fuse``.

Embedders: ``--backends torch,onnx-int8`` evaluates each ``Embedder`` backend in turn in this
one process (its own vectors, Chroma store and queries) and ends with one comparison line
per dataset: dense and hybrid nDCG@10 of each backend minus the first's, document vectors'
mean / min cosine to the first backend's, and the seconds spent embedding the documents.
``--sets scifact`` keeps only the datasets whose name contains one of the given words (and
embeds only their corpora).

Usage: ``.venv/bin/python bench/retrieval.py [--quick] [--tune] [--variants] [--cache-dir DIR]
[--backends torch,onnx-int8] [--sets "beir scifact,dev"]`` (``--cache-dir`` keeps document
vectors between runs, outside the repo; off by default).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared" / "bench"

import numpy as np  # noqa: E402

from assistant.config import Settings  # noqa: E402
from assistant.index.bm25 import Bm25Index  # noqa: E402
from assistant.index.embed import BACKENDS, DEFAULT_BACKEND, Embedder  # noqa: E402
from assistant.index.store import Store  # noqa: E402
from assistant.models import Chunk, Filters  # noqa: E402
from assistant.retrieve import DEFAULT_FUSION, Fusion, Retriever, fuse  # noqa: E402

K = 10
CANDIDATES = 30


# ---- data ---------------------------------------------------------------------------------
def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """``query-id corpus-id [..] score`` rows (header optional) -> {qid: {doc: grade}}."""
    qrels: dict[str, dict[str, int]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        cols = line.strip().split("\t")
        if len(cols) < 3 or cols[0] == "query-id":
            continue
        qrels.setdefault(cols[0], {})[cols[1]] = int(cols[-1])
    return qrels


def doc_text(doc: dict) -> str:
    return f"{doc.get('title', '')}\n{doc['text']}".strip()


class Dataset:
    def __init__(self, name: str, corpus: list[dict], queries: dict[str, str], qrels: dict):
        self.name = name
        self.corpus = corpus
        self.qrels = {q: r for q, r in qrels.items() if q in queries and any(r.values())}
        self.queries = {q: queries[q] for q in sorted(self.qrels, key=_numeric_key)}


def _numeric_key(s: str) -> tuple[int, str]:
    return (int(s), s) if s.isdigit() else (sys.maxsize, s)


def load_datasets(
    quick: bool, tune: bool
) -> tuple[dict[str, list[dict]], list[tuple[str, str, Dataset]]]:
    beir = SHARED / "beir_subsets"
    sf = SHARED / "scifact"
    corpora = {
        "scifact": read_jsonl(beir / "scifact" / "corpus.jsonl"),
        "msmarco": read_jsonl(beir / "msmarco" / "corpus.jsonl"),
        "scifact_subset": read_jsonl(sf / "corpus_subset.jsonl"),
    }
    queries = {
        "scifact": {q["_id"]: q["text"] for q in read_jsonl(beir / "scifact" / "queries.jsonl")},
        "msmarco": {q["_id"]: q["text"] for q in read_jsonl(beir / "msmarco" / "queries.jsonl")},
        "dev": {q["_id"]: q["text"] for q in read_jsonl(sf / "queries_dev.jsonl")},
    }
    subset_ids = {d["_id"] for d in corpora["scifact_subset"]}
    train_q, train_rel = {}, {}
    for c in read_jsonl(sf / "claims_train.jsonl"):
        cited = [str(i) for i in c.get("cited_doc_ids") or []]
        if cited and all(i in subset_ids for i in cited):
            train_q[str(c["id"])] = c["claim"]
            train_rel[str(c["id"])] = {i: 1 for i in cited}
    sets = [
        ("scifact_subset", "tune", Dataset("scifact train (tuning)", [], train_q, train_rel)),
        ("scifact", "test", Dataset(
            "beir scifact", [], queries["scifact"], read_qrels(beir / "scifact/qrels/test.tsv"))),
        ("msmarco", "test", Dataset(
            "beir msmarco", [], queries["msmarco"], read_qrels(beir / "msmarco/qrels/test.tsv"))),
        ("scifact_subset", "test", Dataset(
            "scifact dev (cited)", [], queries["dev"],
            read_qrels(sf / "qrels_dev_beir_style_cited.tsv"))),
        ("scifact_subset", "test", Dataset(
            "scifact dev (evidence)", [], queries["dev"],
            read_qrels(sf / "qrels_dev_from_evidence.tsv"))),
    ]
    if not tune:
        sets = sets[1:]
    if quick:  # deterministic subsample: every 4th query
        for _, _, ds in sets:
            ds.queries = dict(list(ds.queries.items())[::4])
    return corpora, sets


# ---- metrics ------------------------------------------------------------------------------
def ndcg(ranked: Sequence[str], rel: dict[str, int], k: int = K) -> float:
    """trec_eval / BEIR nDCG@k (linear gain)."""
    dcg = sum(rel.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted((g for g in rel.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall(ranked: Sequence[str], rel: dict[str, int], k: int = K) -> float:
    relevant = {d for d, g in rel.items() if g > 0}
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0


def mrr(ranked: Sequence[str], rel: dict[str, int], k: int = K) -> float:
    for i, d in enumerate(ranked[:k]):
        if rel.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def evaluate(runs: dict[str, list[str]], ds: Dataset) -> tuple[float, float, float]:
    n = len(ds.queries)
    return (
        sum(ndcg(runs[q], ds.qrels[q]) for q in ds.queries) / n,
        sum(recall(runs[q], ds.qrels[q]) for q in ds.queries) / n,
        sum(mrr(runs[q], ds.qrels[q]) for q in ds.queries) / n,
    )


# ---- index ----------------------------------------------------------------------------------
class _Chunks:
    def __init__(self, chunks: list[Chunk]) -> None:
        self._chunks = chunks

    def chunks(self, article_id: str | None = None) -> list[Chunk]:
        return self._chunks


class CachedQueries:
    """Embedder wrapper: each query string embedded once per run."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.cache: dict[str, list[float]] = {}

    def embed_query(self, text: str) -> list[float]:
        if text not in self.cache:
            self.cache[text] = self.embedder.embed_query(text)
        return self.cache[text]


def embed_docs(embedder: Embedder, texts: list[str], cache_dir: Path | None) -> np.ndarray:
    key = hashlib.sha256("\x1e".join([embedder.name, *texts]).encode()).hexdigest()[:16]
    path = cache_dir / f"docs-{key}.npy" if cache_dir else None
    if path and path.exists():
        return np.load(path)
    vecs = embedder.encode(texts)
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vecs)
    return vecs


def build(name: str, docs: list[dict], embedder: Embedder, tmp: Path, vectors: dict):
    chunks = [
        Chunk(id=d["_id"], article_id=d["_id"], index=0, text=d["text"], start=0,
              end=len(d["text"]), section="", role="report", title=d.get("title", ""))
        for d in docs
    ]
    vecs = np.stack([vectors[doc_text(d)] for d in docs])
    t1 = time.perf_counter()
    settings = Settings(_env_file=None, index_dir=tmp / name, top_k=K, candidates=CANDIDATES)
    store = Store(settings, embedder)
    store.add(chunks, vecs)
    lexical = Bm25Index(tmp / name / "bm25", _Chunks(chunks))
    lexical.refresh()
    t2 = time.perf_counter()
    print(f"  {name}: {len(docs)} docs, Chroma + BM25 built in {t2 - t1:.1f} s",
          file=sys.stderr)
    return store, lexical, settings


# ---- main ---------------------------------------------------------------------------------
VARIANTS: list[tuple[str, Fusion]] = [
    ("rrf k=60 w=.5", Fusion("rrf", 0.5)),
    *[(f"rrf k=60 w={w}", Fusion("rrf", w)) for w in (0.3, 0.4, 0.6, 0.7)],
    *[(f"minmax w={w}", Fusion("minmax", w)) for w in (0.3, 0.4, 0.5, 0.6, 0.7)],
    *[(f"zscore w={w}", Fusion("zscore", w)) for w in (0.3, 0.4, 0.5, 0.6, 0.7)],
]


Row = tuple[str, str, str, int, tuple[float, float, float]]


def evaluate_backend(
    embedder: Embedder, corpora: dict[str, list[dict]], sets: list[tuple[str, str, Dataset]],
    args: argparse.Namespace, tmp: Path,
) -> tuple[list[Row], dict[str, np.ndarray], float]:
    """Rows for every set and method with this embedder; its document vectors; embed seconds."""
    queries = CachedQueries(embedder)
    rows: list[Row] = []
    texts = sorted({doc_text(d) for docs in corpora.values() for d in docs})
    t0 = time.perf_counter()
    vectors = dict(zip(texts, embed_docs(embedder, texts, args.cache_dir), strict=True))
    seconds = time.perf_counter() - t0
    print(f"  [{embedder.active_backend}] {len(texts)} distinct documents embedded in "
          f"{seconds:.0f} s", file=sys.stderr)
    built = {}
    for corpus_name, docs in corpora.items():
        built[corpus_name] = build(corpus_name, docs, embedder, tmp, vectors)
    for corpus_name, role, ds in sets:
        store, lexical, settings = built[corpus_name]
        retriever = Retriever(store, lexical, queries, settings)
        runs: dict[str, dict[str, list[str]]] = {}
        cands: dict[str, tuple[list, list]] = {}
        t0 = time.perf_counter()
        for qid, text in ds.queries.items():
            for mode in ("dense", "bm25", "hybrid"):
                passages = retriever.retrieve(text, k=K, filters=Filters(), mode=mode)
                runs.setdefault(mode, {})[qid] = [p.chunk.id for p in passages]
            if args.variants or role == "tune":
                dense = [(c.id, s) for c, s in retriever._dense(text, CANDIDATES, Filters())]
                bm25 = [(c.id, s) for c, s in retriever._bm25(text, CANDIDATES, Filters())]
                cands[qid] = (dense, bm25)
        calls = 5 if cands else 3
        per_query = (time.perf_counter() - t0) / max(1, len(ds.queries)) / calls
        for mode in ("dense", "bm25", "hybrid"):
            rows.append((ds.name, role, mode, len(ds.queries), evaluate(runs[mode], ds)))
        if args.variants or role == "tune":
            for label, fusion in VARIANTS:
                label += " *" if fusion == DEFAULT_FUSION else ""
                run = {q: [d for d, _ in fuse(dn, bm, fusion)][:K]
                       for q, (dn, bm) in cands.items()}
                rows.append((ds.name, role, label, len(ds.queries), evaluate(run, ds)))
        print(f"  {ds.name}: {len(ds.queries)} queries, ~{per_query * 1000:.0f} ms "
              f"per retrieval call", file=sys.stderr)
    return rows, vectors, seconds


def print_table(rows: list[Row], backend: str) -> None:
    print(f"\n[embedder backend: {backend}]")
    print(f"{'dataset':24} {'set':5} {'method':16} {'queries':>7} "
          f"{'nDCG@10':>8} {'R@10':>6} {'MRR@10':>7}")
    last = None
    for name, role, method, n, (nd, rc, mr) in rows:
        if last and name != last:
            print()
        last = name
        print(f"{name:24} {role:5} {method:16} {n:7d} {nd:8.3f} {rc:6.3f} {mr:7.3f}")
    verdicts = []
    for name in dict.fromkeys(r[0] for r in rows if r[1] == "test"):
        by = {r[2]: r[4][0] for r in rows if r[0] == name}
        ok = by["hybrid"] > max(by["dense"], by["bm25"])
        verdicts.append(f"{name}: hybrid {'beats' if ok else 'does NOT beat'} both "
                        f"({by['hybrid']:.4f} vs dense {by['dense']:.4f}, bm25 {by['bm25']:.4f})")
    print("\n" + "\n".join(verdicts))


def print_comparison(results: dict[str, tuple[list[Row], dict[str, np.ndarray], float]]) -> None:
    """One line per other backend and dataset: nDCG@10 differences from the first backend."""
    (ref_name, (ref_rows, ref_vecs, ref_s)), *others = results.items()
    ref = {(r[0], r[2]): r for r in ref_rows}
    print(f"\ncompared with {ref_name} (same process; nDCG@10 difference, goal |diff| <= 0.005):")
    for name, (rows, vecs, secs) in others:
        keys = sorted(ref_vecs)
        cos = np.sum(np.stack([vecs[k] for k in keys]) * np.stack([ref_vecs[k] for k in keys]), 1)
        print(f"  {name}: document vectors' cosine to {ref_name}'s mean {cos.mean():.5f} "
              f"min {cos.min():.5f}; documents embedded in {secs:.0f} s vs {ref_s:.0f} s "
              f"({ref_s / secs:.2f}x)")
        for ds_name in dict.fromkeys(r[0] for r in rows):
            parts = []
            for method in ("dense", "hybrid"):
                mine, theirs = {(r[0], r[2]): r for r in rows}[(ds_name, method)], ref[
                    (ds_name, method)]
                parts.append(f"{method} {mine[4][0]:.4f} vs {theirs[4][0]:.4f} "
                             f"({mine[4][0] - theirs[4][0]:+.4f})")
            print(f"  {name}: {ds_name} (n={mine[3]}): " + ", ".join(parts))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="every 4th query only")
    ap.add_argument("--cache-dir", type=Path, default=None, help="keep doc vectors here")
    ap.add_argument("--variants", action="store_true", help="fusion variants on the test sets")
    ap.add_argument("--tune", action="store_true", help="add the tuning set (with variants)")
    ap.add_argument("--backends", default=DEFAULT_BACKEND,
                    help=f"comma-separated embedder backends among {', '.join(BACKENDS)}")
    ap.add_argument("--sets", default="", help="comma-separated words: keep matching datasets")
    args = ap.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if not backends or any(b not in BACKENDS for b in backends):
        ap.error(f"--backends takes names among {', '.join(BACKENDS)}")

    start = time.perf_counter()
    corpora, sets = load_datasets(args.quick, args.tune)
    words = [w.strip() for w in args.sets.split(",") if w.strip()]
    if words:
        sets = [s for s in sets if any(w in s[2].name for w in words)]
        corpora = {c: d for c, d in corpora.items() if any(s[0] == c for s in sets)}
    print(f"fusion used by Retriever: {DEFAULT_FUSION}", file=sys.stderr)
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-retrieval-") as tmpdir:
        for backend in backends:
            embedder = Embedder(backend=backend)
            if embedder.active_backend != backend:
                print(f"backend {backend} unavailable (fell back to "
                      f"{embedder.active_backend}); see the warning above", file=sys.stderr)
                sys.exit(1)
            results[backend] = evaluate_backend(
                embedder, corpora, sets, args, Path(tmpdir) / backend
            )

    print("\nhybrid = Retriever (fusion + near-duplicate merging + per-article cap); "
          "variant rows = fusion only, * = the Retriever's fusion")
    for backend, (rows, _, _) in results.items():
        print_table(rows, backend)
    if len(results) > 1:
        print_comparison(results)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
