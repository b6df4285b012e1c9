"""Scale benchmark: retrieve latency at 1k, 10k and 100k chunks, embedded Chroma vs server.

What it measures: the time of one retrieval (embed the query + vector search + BM25 + fusion,
through ``assistant.retrieve.Retriever`` in hybrid mode when that module exists; otherwise
dense and BM25 are timed separately and summed, and the output says so), median and p95 over
the benchmark queries, for an embedded Chroma store (``PersistentClient`` in a temp dir) and a
Chroma server (``chroma run`` on 127.0.0.1, a free port, started by
``tests/integration/servers.py``),
plus the index size on disk.

Data (read from ``../shared/bench``; nothing is copied into the repository):

- A pool of real texts: the 5,000 MS MARCO passages and the 758 SciFact abstracts of the
  BEIR subsets, embedded ONCE with the packaged all-MiniLM-L6-v2 and cached outside the repo
  (``<cache_dir>/bench/scale-pool-*.npz``; ``Settings().cache_dir``).
- Chunks beyond the pool are synthetic: the text is the sentences of two pool texts
  recombined, and its vector is a blend of the two texts' real vectors plus a little noise,
  re-normalised. So texts and vectors are of the right size and distribution, but the
  vector of a synthetic chunk is not the model's embedding of its text (embedding 100k
  chunks would take 20+ minutes on 2 busy cores). Say so when quoting the figures.
- Queries: the 50 MS MARCO and 50 SciFact BEIR queries, embedded at query time (the
  embedding is part of the measured retrieve time, as it is for a user's question).

Query embedding runs on ONE torch thread by default (``--torch-threads``): measured on the
busy 2-core box, one short query took ~610 ms wall / ~185 ms CPU with torch's default two
threads and ~56 ms wall / ~16 ms CPU with one (spinning OpenMP threads under contention).
Wall times include waiting for the CPU when other jobs run; the CPU-time column does not.

Run: ``.venv/bin/python bench/scale.py [--sizes 1000 10000 100000] [--no-server]``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared" / "bench"

from assistant.config import Settings  # noqa: E402
from assistant.index.bm25 import Bm25Index  # noqa: E402
from assistant.index.embed import Embedder  # noqa: E402
from assistant.index.store import Store  # noqa: E402
from assistant.models import Chunk, Filters  # noqa: E402
from assistant.text import sentences  # noqa: E402
from tests.integration.servers import Server, chroma_server  # noqa: E402


# ---- data -------------------------------------------------------------------------------------
def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def pool_texts() -> list[str]:
    texts = []
    for name in ("msmarco", "scifact"):
        for rec in _read_jsonl(SHARED / "beir_subsets" / name / "corpus.jsonl"):
            text = " ".join(part for part in (rec.get("title", ""), rec["text"]) if part)
            # keep chunk-sized texts (~ the 200 word-piece chunks of the assistant)
            texts.append(" ".join(text.split()[:150]))
    return texts


def queries() -> list[str]:
    out = []
    for name in ("msmarco", "scifact"):
        out += [q["text"] for q in _read_jsonl(SHARED / "beir_subsets" / name / "queries.jsonl")]
    return out


def pool_vectors(texts: list[str], embedder: Embedder, cache_dir: Path) -> np.ndarray:
    """Real vectors of the pool texts, computed once and cached outside the repository."""
    key = hashlib.sha256("\x1e".join(texts).encode()).hexdigest()[:12]
    path = cache_dir / "bench" / f"scale-pool-{key}.npz"
    if path.exists():
        return np.load(path)["vectors"]
    print(f"embedding the pool of {len(texts)} real texts once (cached in {path}) ...")
    t0 = time.perf_counter()
    vecs = embedder.encode(texts)
    print(f"  {len(texts) / (time.perf_counter() - t0):.0f} texts/s")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + f".{os.getpid()}.tmp.npz")
    np.savez(tmp, vectors=vecs)
    os.replace(tmp, path)
    return vecs


def make_chunks(
    n: int, texts: list[str], vecs: np.ndarray, seed: int = 0
) -> tuple[list[Chunk], np.ndarray]:
    """``n`` chunks: the real pool first, then recombinations (text and blended vector)."""
    rng = np.random.default_rng(seed)
    sents = [sentences(t) or [t] for t in texts]
    out_text: list[str] = []
    out_vec = np.empty((n, vecs.shape[1]), dtype=np.float32)
    for i in range(n):
        if i < len(texts):
            out_text.append(texts[i])
            out_vec[i] = vecs[i]
            continue
        a, b = rng.integers(0, len(texts), size=2)
        sa, sb = sents[a], sents[b]
        ka = max(1, (len(sa) + 1) // 2)
        kb = max(1, len(sb) // 2)
        out_text.append(" ".join(sa[:ka] + sb[-kb:]))
        w = rng.uniform(0.5, 0.8)
        v = w * vecs[a] + (1 - w) * vecs[b] + rng.normal(0, 0.02, vecs.shape[1])
        out_vec[i] = v / np.linalg.norm(v)
    chunks = [
        Chunk(
            id=f"bench-{i // 8}:h:{i % 8}",
            article_id=f"bench-{i // 8}",
            index=i % 8,
            text=t,
            start=0,
            end=len(t),
            section="",
            role="report",
            title=f"Synthetic article {i // 8}",
            source="bench",
        )
        for i, t in enumerate(out_text)
    ]
    return chunks, out_vec


# ---- measuring --------------------------------------------------------------------------------
def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def rss_mb(pid: int) -> float:
    """Resident memory of a process (Linux /proc), in MB; 0 where unavailable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def build_search(settings: Settings, embedder: Embedder, store: Store, lexical: Bm25Index) -> tuple[
    Callable[[str], None], str
]:
    try:
        from assistant.retrieve import Retriever
    except ImportError:
        Retriever = None  # noqa: N806
    k = settings.top_k
    if Retriever is not None:
        retriever = Retriever(store, lexical, embedder, settings)

        def hybrid(q: str) -> None:
            retriever.retrieve(q, k=k, filters=Filters(), mode="hybrid")

        return hybrid, "hybrid (assistant.retrieve.Retriever)"

    def separate(q: str) -> None:
        vec = embedder.encode([q])[0]
        store.query(vec, settings.candidates)
        lexical.search(q, settings.candidates)

    return separate, "dense + BM25 run separately (no assistant.retrieve yet), no fusion"


def timed(fn: Callable[[str], object], qs: list[str]) -> tuple[list[float], list[float]]:
    """Wall and process-CPU milliseconds of ``fn(q)`` for each query (after a warm-up).

    CPU time counts every thread of this process (torch, Chroma's embedded Rust threads), not
    the Chroma server's; it is far less sensitive than wall time to other jobs on the box.
    """
    for q in qs[:5]:
        fn(q)
    wall, cpu = [], []
    for q in qs:
        c0, t0 = time.process_time(), time.perf_counter()
        fn(q)
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return wall, cpu


def measure(
    search: Callable[[str], None],
    embedder: Embedder,
    store: Store,
    lexical: Bm25Index,
    qs: list[str],
    candidates: int,
) -> dict[str, float]:
    """Median/p95 of the whole retrieve, and of its parts run on their own."""
    vecs = {q: embedder.encode([q])[0] for q in qs}
    out: dict[str, float] = {}
    wall, cpu = timed(search, qs)
    out |= {"median_ms": statistics.median(wall), "p95_ms": pct(wall, 95),
            "cpu_median_ms": statistics.median(cpu), "cpu_p95_ms": pct(cpu, 95)}
    parts: dict[str, Callable[[str], object]] = {
        "embed": lambda q: embedder.encode([q]),
        "dense": lambda q: store.query(vecs[q], candidates),
        "bm25": lambda q: lexical.search(q, candidates),
    }
    for name, fn in parts.items():
        wall, _ = timed(fn, qs)
        out[f"{name}_median_ms"] = statistics.median(wall)
        out[f"{name}_p95_ms"] = pct(wall, 95)
    return out


def run_size(
    n: int,
    texts: list[str],
    vecs: np.ndarray,
    qs: list[str],
    embedder: Embedder,
    workdir: Path,
    server: bool,
) -> list[dict]:
    chunks, cvecs = make_chunks(n, texts, vecs)
    rows = []
    modes = ["embedded", "server"] if server else ["embedded"]
    for mode in modes:
        base = workdir / f"{mode}-{n}"
        base.mkdir(parents=True)
        ctx: contextlib.AbstractContextManager[Server | None]
        ctx = chroma_server(base / "server-data") if mode == "server" else contextlib.nullcontext()
        with ctx as server:
            port, pid = (server.port, server.pid) if server else (0, 0)
            settings = Settings(
                _env_file=None,
                index_dir=base / "index",
                chroma_host="127.0.0.1" if port else None,
                chroma_port=port or 8000,
            )
            store = Store(settings, embedder)
            t0 = time.perf_counter()
            store.add(chunks, cvecs)
            t_insert = time.perf_counter() - t0
            lexical = Bm25Index(base / "index" / "bm25", store)
            t0 = time.perf_counter()
            lexical.refresh()
            t_bm25 = time.perf_counter() - t0
            search, how = build_search(settings, embedder, store, lexical)
            figures = measure(search, embedder, store, lexical, qs, settings.candidates)
            chroma_dir = base / "server-data" if port else store.path
            row = {
                "chunks": n,
                "mode": mode,
                "retrieve": how,
                **figures,
                "insert_s": t_insert,
                "bm25_build_s": t_bm25,
                "chroma_mb": dir_bytes(chroma_dir) / 1e6,
                "bm25_mb": dir_bytes(base / "index" / "bm25") / 1e6,
                "server_rss_mb": rss_mb(pid) if pid else 0.0,
                "bench_rss_mb": rss_mb(os.getpid()),
            }
            rows.append(row)
            print(
                f"{n:>7} {mode:>8}  median {row['median_ms']:6.1f} ms  p95 {row['p95_ms']:6.1f} ms"
                f"  (cpu p95 {row['cpu_p95_ms']:6.1f} ms; parts p95: embed"
                f" {row['embed_p95_ms']:.1f}, dense {row['dense_p95_ms']:.1f},"
                f" bm25 {row['bm25_p95_ms']:.1f} ms)\n        "
                f"  insert {t_insert:5.1f} s  bm25 build {t_bm25:5.1f} s"
                f"  chroma {row['chroma_mb']:7.1f} MB  bm25 {row['bm25_mb']:6.1f} MB"
                f"  rss: chroma server {row['server_rss_mb']:.0f} MB,"
                f" this process {row['bench_rss_mb']:.0f} MB",
                flush=True,
            )
        shutil.rmtree(base, ignore_errors=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--no-server", action="store_true", help="embedded Chroma only")
    ap.add_argument("--pool-only", action="store_true", help="embed and cache the pool, stop")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON here")
    ap.add_argument(
        "--torch-threads", type=int, default=1,
        help="torch threads for embedding the query (default 1: on a busy 2-core box, two "
        "spinning OpenMP threads make one short query ~10x slower)",
    )
    args = ap.parse_args(argv)
    if not SHARED.exists():
        print(f"../shared/bench not found at {SHARED}", file=sys.stderr)
        return 2
    settings = Settings(_env_file=None)
    embedder = Embedder()
    texts = pool_texts()
    vecs = pool_vectors(texts, embedder, settings.cache_dir)
    if args.pool_only:
        return 0
    qs = queries()
    import torch

    torch.set_num_threads(args.torch_threads)
    print(
        f"pool: {len(texts)} real texts with real vectors; chunks beyond the pool are "
        f"recombined texts with blended real vectors; {len(qs)} queries; "
        f"top_k={settings.top_k}, candidates={settings.candidates}; cpus={os.cpu_count()}; "
        f"torch threads for the query embedding: {args.torch_threads}"
    )
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="assistant-scale-") as tmp:
        for n in args.sizes:
            rows += run_size(n, texts, vecs, qs, embedder, Path(tmp), not args.no_server)
    print(f"\nretrieve = {rows[0]['retrieve']}")
    print(
        f"{'chunks':>8} {'mode':>9} {'median ms':>10} {'p95 ms':>8} {'cpu p95':>8}"
        f" {'embed p95':>10} {'dense p95':>10} {'bm25 p95':>9} {'disk MB':>8}"
    )
    for r in rows:
        print(
            f"{r['chunks']:>8} {r['mode']:>9} {r['median_ms']:>10.1f} {r['p95_ms']:>8.1f}"
            f" {r['cpu_p95_ms']:>8.1f} {r['embed_p95_ms']:>10.1f} {r['dense_p95_ms']:>10.1f}"
            f" {r['bm25_p95_ms']:>9.1f} {r['chroma_mb'] + r['bm25_mb']:>8.1f}"
        )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average at the end: {load:.1f} on {os.cpu_count()} cpus (wall times include "
          f"waiting for the CPU when other jobs run)")
    for mode in ("embedded", "server"):
        mine = [r for r in rows if r["mode"] == mode]
        if len(mine) > 1:
            first, last = mine[0], mine[-1]
            growth = last["p95_ms"] / max(first["p95_ms"], 1e-9)
            goal = ""
            if last["chunks"] >= 100_000:
                met = "met" if last["p95_ms"] < 100 else "NOT met"
                goal = f"; goal p95 < 100 ms at 100k: {met}"
            print(
                f"{mode}: p95 grows x{growth:.1f} from {first['chunks']} to {last['chunks']} "
                f"chunks (x{last['chunks'] / first['chunks']:.0f} data){goal}"
            )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
