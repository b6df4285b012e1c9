"""Answer latency: time to first token, total time, tokens/s and peak memory, per backend.

    .venv/bin/python bench/answer.py [--backends local extractive] [--threads N] [--verify]

Ingests corpus/ into a temporary index, then asks a fixed set of questions (one of them
unanswerable) with each backend and prints medians. Before the local run, ``Assistant.warm``
loads the model and evaluates the fixed instructions once (every question then reuses that
prompt prefix from llama.cpp's KV cache); its time is printed separately, and so is the
first local question.
Goals on 2 cores: local time to first token < 8 s, extractive whole answer < 1 s.
Claim checking is off unless --verify (it is measured by bench/verify.py).
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from assistant.config import Settings  # noqa: E402
from assistant.service import Assistant  # noqa: E402

QUESTIONS = [
    "How many tonnes of NdFeB magnets a year is the Lynas / JS Link facility meant to make?",
    "Who is Lynas's Korean partner for the magnet plant?",
    "How much rare earth does Malaysia hold, and what is it worth?",
    "Is China offering to share rare earth processing technology with Malaysia?",
    "Which sovereign wealth fund is tipped as Malaysia's partner in the China talks?",
    "What did China's 2023 gallium export controls do to prices?",  # not in the corpus
]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_backend(assistant: Assistant, backend: str) -> dict[str, object]:
    ttft, total, rates, cached, prompt, evals = [], [], [], [], [], []
    cold: dict[str, float] = {}
    rows = []
    for i, q in enumerate(QUESTIONS):
        t0 = time.perf_counter()
        first = None
        answer = None
        for event in assistant.ask_stream(q, backend=backend):
            if event.kind == "token" and first is None:
                first = time.perf_counter() - t0
            if event.kind == "answer":
                answer = event.answer
        elapsed = time.perf_counter() - t0
        assert answer is not None
        first = first if first is not None else elapsed
        rows.append((q, answer))
        generated = backend == "local" and not answer.abstained and "generate" in answer.timings
        if backend == "local" and i == 0:
            cold = {"first_token": first, "total": elapsed}
            if generated:
                lm = assistant.local_model
                cold.update(prompt=lm.last_prompt_tokens, cached=lm.last_cached_tokens)
            continue
        ttft.append(first)
        total.append(elapsed)
        if generated:
            lm = assistant.local_model
            gen = answer.timings["generate"]
            decode = max(1e-6, gen - (answer.timings["first_token"] - answer.timings["retrieve"]
                                      - answer.timings.get("select", 0.0)))
            rates.append(lm.last_output_tokens / decode)
            tm = answer.timings
            prefill = tm["first_token"] - tm["retrieve"] - tm.get("select", 0.0)
            evals.append((lm.last_prompt_tokens - lm.last_cached_tokens) / max(prefill, 1e-6))
            cached.append(lm.last_cached_tokens)
            prompt.append(lm.last_prompt_tokens)
    return {
        "rows": rows, "ttft": ttft, "total": total, "rates": rates, "cold": cold,
        "cached": cached, "prompt": prompt, "evals": evals,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["extractive", "local"])
    parser.add_argument("--threads", type=int, help="llama.cpp threads (default: cores)")
    parser.add_argument("--verify", action="store_true", help="check each sentence too")
    parser.add_argument("-v", "--verbose", action="store_true", help="print the answers")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        overrides: dict[str, object] = {"index_dir": Path(tmp) / "index", "verify": args.verify}
        if args.threads:
            overrides["llm_threads"] = args.threads
        settings = Settings(_env_file=None, **overrides)
        assistant = Assistant(settings)
        t = time.perf_counter()
        assistant.ingest([str(REPO / "corpus")])
        print(f"ingest corpus/: {time.perf_counter() - t:.1f} s; "
              f"llama.cpp threads {settings.llm_threads}; load average {os.getloadavg()[0]:.1f}")
        assistant.ask(QUESTIONS[0], backend="extractive")  # warm up embedder, store, BM25
        for backend in args.backends:
            if backend == "local":
                t = time.perf_counter()
                assistant.warm("local")
                print(f"\nwarm-up (load the model, evaluate the fixed instructions once): "
                      f"{time.perf_counter() - t:.1f} s, {assistant.local_model.last_prompt_tokens}"
                      " prompt tokens")
            r = run_backend(assistant, backend)
            print(f"\n== {backend} ({len(r['ttft'])} questions measured)")
            if r["cold"]:
                c = r["cold"]
                print(f"  first question after warm-up: first token {c['first_token']:.2f} s, "
                      f"total {c['total']:.2f} s ("
                      f"prompt {c.get('prompt', '?')} tokens, cached {c.get('cached', '?')})")
            print(f"  median time to first token: {statistics.median(r['ttft']):.2f} s")
            print(f"  median total time:          {statistics.median(r['total']):.2f} s")
            if r["rates"]:
                print(f"  median output tokens/s:     {statistics.median(r['rates']):.1f}")
                print(f"  median prompt tokens:       {statistics.median(r['prompt']):.0f} "
                      f"(of which reused from the KV cache: "
                      f"{statistics.median(r['cached']):.0f})")
                print(f"  median prompt eval tokens/s: {statistics.median(r['evals']):.1f} "
                      "(STACK.md: ~57 on an idle 2-core machine)")
            print(f"  peak RSS so far:            {peak_rss_mb():.0f} MB")
            abstained = sum(1 for _, a in r["rows"] if a.abstained)
            print(f"  abstained: {abstained} of {len(r['rows'])}")
            if args.verbose:
                for q, a in r["rows"]:
                    print(f"  Q: {q}\n  A: {a.text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
