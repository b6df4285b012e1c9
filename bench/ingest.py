"""Ingest benchmark: our incremental indexer vs a plain LangChain + Chroma baseline.

Articles: the SciFact abstracts in ../shared/bench/scifact/corpus_subset.jsonl (983
abstracts, ~2,170 chunks at the default 200 word pieces), written to a temp folder as
.jsonl files; MS MARCO passages are added if fewer than --min-chunks chunks come out.

Per run, in one process with the model already loaded:
  ours      Assistant.ingest(folder) into a fresh temp index: load, clean, section, chunk,
            embed (batched across articles; the embedder backend of Settings.embed_backend,
            or --backend), write to embedded Chroma, manifest, BM25.
  unchanged the same ingest again (nothing changed: must skip everything).
  baseline  langchain_chroma.Chroma.from_documents(the very chunk texts + metadata we
            stored, HuggingFaceEmbeddings(model_name=<package path>,
            encode_kwargs={"normalize_embeddings": True})) into another temp dir.
Prints chunks/s for both, ours/baseline (goal >= 2), and first/unchanged (goal >= 50);
medians over --runs. The ONNX model files are exported before the timing (first use only).

    .venv/bin/python bench/ingest.py [--runs 3] [--min-chunks 2000] [--backend onnx-int8]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "bench"
sys.path.insert(0, str(REPO))

from assistant.config import Settings  # noqa: E402
from assistant.index.embed import BACKENDS, Embedder, default_model_path  # noqa: E402
from assistant.ingest.pipeline import chunk_article, prepare  # noqa: E402
from assistant.models import RawArticle  # noqa: E402
from assistant.service import Assistant  # noqa: E402


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def build_articles(folder: Path, embedder: Embedder, min_chunks: int, max_tokens: int) -> int:
    """Write SciFact abstracts (plus MS MARCO passages if needed) as .jsonl; return chunks."""
    records = [
        {"id": f"scifact-{r['_id']}", "title": r.get("title", ""), "text": r["text"]}
        for r in read_jsonl(SHARED / "scifact" / "corpus_subset.jsonl")
    ]
    extra = SHARED / "beir_subsets" / "msmarco" / "corpus.jsonl"
    extras = iter(read_jsonl(extra)) if extra.exists() else iter(())
    total = 0
    chosen = []
    for rec in records:
        raw = RawArticle(id=rec["id"], title=rec["title"], text=rec["text"], origin="bench")
        total += len(chunk_article(prepare(raw), max_tokens, embedder.count_tokens))
        chosen.append(rec)
    for r in extras:
        if total >= min_chunks:
            break
        rec = {"id": f"msmarco-{r['_id']}", "title": r.get("title", ""), "text": r["text"]}
        raw = RawArticle(id=rec["id"], title=rec["title"], text=rec["text"], origin="bench")
        total += len(chunk_article(prepare(raw), max_tokens, embedder.count_tokens))
        chosen.append(rec)
    folder.mkdir(parents=True, exist_ok=True)
    per_file = 100
    for i in range(0, len(chosen), per_file):
        with (folder / f"part{i // per_file:03d}.jsonl").open("w", encoding="utf-8") as fh:
            for rec in chosen[i : i + per_file]:
                fh.write(json.dumps(rec) + "\n")
    return total


def run_ours(folder: Path, index: Path, embedder: Embedder) -> tuple[float, float, list]:
    assistant = Assistant(Settings(_env_file=None, index_dir=index))
    assistant.embedder = embedder
    _ = assistant.store, assistant.manifest  # open the store outside the timing, as baseline
    t0 = time.perf_counter()
    result = assistant.ingest([str(folder)])
    first = time.perf_counter() - t0
    assert result.ok and result.chunks_written > 0, result.failed
    t0 = time.perf_counter()
    again = assistant.ingest([str(folder)])
    unchanged = time.perf_counter() - t0
    assert again.chunks_written == 0 and not again.added and not again.updated
    chunks = assistant.store.chunks()
    assert len(chunks) == result.chunks_written
    return first, unchanged, chunks


def run_baseline(chunks: list, directory: Path, hf_embeddings) -> float:
    from chromadb.config import Settings as ChromaSettings
    from langchain_chroma import Chroma
    from langchain_core.documents import Document

    docs = [Document(page_content=c.text, metadata=c.metadata()) for c in chunks]
    t0 = time.perf_counter()
    store = Chroma.from_documents(
        docs,
        hf_embeddings,
        persist_directory=str(directory),
        collection_name="baseline",
        client_settings=ChromaSettings(anonymized_telemetry=False, is_persistent=True,
                                       persist_directory=str(directory)),
    )
    elapsed = time.perf_counter() - t0
    assert store._collection.count() == len(docs)
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--min-chunks", type=int, default=2000)
    ap.add_argument("--backend", choices=BACKENDS, default=None,
                    help="embedder backend for ours (default: Settings.embed_backend)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not (SHARED / "scifact" / "corpus_subset.jsonl").exists():
        print(f"benchmark data not found under {SHARED}", file=sys.stderr)
        return 2

    from langchain_huggingface import HuggingFaceEmbeddings

    settings = Settings(_env_file=None)
    backend = args.backend or settings.embed_backend
    t0 = time.perf_counter()
    embedder = Embedder(batch_size=settings.embed_batch_size, backend=backend,
                        cache_dir=settings.cache_dir)
    embedder.encode(["warm up"])
    print(f"ours: embedder {embedder.name}, backend {embedder.active_backend} "
          f"(asked: {backend}), ready in {time.perf_counter() - t0:.1f} s", flush=True)
    hf = HuggingFaceEmbeddings(
        model_name=str(default_model_path()), encode_kwargs={"normalize_embeddings": True}
    )
    hf.embed_documents(["warm up"])

    ours, unchanged, base = [], [], []
    chunks: list = []
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp_str:
        tmp = Path(tmp_str)
        n_chunks = build_articles(
            tmp / "articles", embedder, args.min_chunks, settings.chunk_max_tokens
        )
        n_files = len(list((tmp / "articles").glob("*.jsonl")))
        print(f"articles: {n_files} .jsonl files, {n_chunks} chunks expected", flush=True)
        for run in range(args.runs):
            # alternate the order (load on a shared machine drifts): odd runs baseline first
            if run % 2 == 1:
                b = run_baseline(chunks, tmp / f"baseline-{run}", hf)
            first, again, chunks = run_ours(tmp / "articles", tmp / f"ours-{run}", embedder)
            if run % 2 == 0:
                b = run_baseline(chunks, tmp / f"baseline-{run}", hf)
            n = len(chunks)
            ours.append(n / first)
            unchanged.append(again)
            base.append(n / b)
            print(
                f"run {run + 1}: {n} chunks | ours {first:6.1f}s = {n / first:6.1f} chunks/s | "
                f"unchanged re-ingest {again * 1000:7.1f} ms | "
                f"baseline {b:6.1f}s = {n / b:6.1f} chunks/s | "
                f"ours/baseline {b / first:.2f} | first/unchanged {first / again:,.0f}x",
                flush=True,
            )
    o, u, b_ = statistics.median(ours), statistics.median(unchanged), statistics.median(base)
    first_s = n_chunks / o
    print(
        f"median of {args.runs}: ours {o:.1f} chunks/s, baseline {b_:.1f} chunks/s, "
        f"ours/baseline {o / b_:.2f} (goal >= 2); unchanged re-ingest {u * 1000:.1f} ms, "
        f"first/unchanged {first_s / u:,.0f}x (goal >= 50)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
