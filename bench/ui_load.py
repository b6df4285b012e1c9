"""Load check of the page: 8 concurrent users asking questions through the page's chat API.

Starts ``python app.py`` with the extractive answer writer (no LLM: the figure is about the
page, the queue and retrieval/checking, not about generation speed) and a fresh index of
corpus/ in a temp folder, on a free loopback port. Then:

1. single user: each question once, one after another -> median latency;
2. N users at once (default 8), each with its own ``gradio_client.Client`` (own session),
   asking ``--rounds`` questions each -> median, p95, max latency and errors.

Goal (issue 5): no errors, p95 under 5x the single-user median.

    .venv/bin/python bench/ui_load.py [--users 8] [--rounds 3] [--concurrency N]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # gradio_client asks the hub otherwise

import httpx  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
QUESTIONS = [
    "How many tonnes of NdFeB magnets a year does the Lynas and JS Link plan target?",
    "Where will the new super magnet facility be built?",
    "How large are Malaysia's rare earth resources and what are they worth?",
    "Which Malaysian fund may partner with China on rare earth processing?",
    "Why does Malaysia rely on foreign partners for rare earths?",
    "What did Anwar Ibrahim say about the trade agreement with the United States?",
    "Who first reported the China-Malaysia processing talks?",
    "What would the China-plus-one model mean for the supply chain?",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(tmp: Path, concurrency: int | None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        "ASSISTANT_INDEX_DIR": str(tmp / "index"),
        "ASSISTANT_CORPUS_DIR": str(REPO / "corpus"),
        "ASSISTANT_BACKEND": "extractive",
        "ASSISTANT_PORT": str(port),
        "ASSISTANT_HOST": "127.0.0.1",
        "GRADIO_TEMP_DIR": str(tmp / "gradio"),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "TRANSFORMERS_OFFLINE": "1",
        "ANONYMIZED_TELEMETRY": "False",
    }
    if concurrency:
        env["ASSISTANT_CONCURRENCY"] = str(concurrency)
    log = (tmp / "app.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "app.py")], cwd=tmp, env=env, stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"app.py exited:\n{(tmp / 'app.log').read_text()[-3000:]}")
        try:
            if httpx.get(url + "gradio_api/info", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(1)
    proc.kill()
    raise SystemExit("app.py did not come up")


def ask(client, question: str) -> float:  # type: ignore[no-untyped-def]
    """One question through the page's chat handler; returns seconds; raises on a bad reply."""
    t0 = time.perf_counter()
    messages, panel, _ = client.predict(question, None, None, [], "extractive", api_name="/chat")
    elapsed = time.perf_counter() - t0
    content = messages[-1]["content"]
    text = content if isinstance(content, str) else "".join(p.get("text", "") for p in content)
    if 'class="answer' not in text:
        raise RuntimeError(f"no answer rendered: {text[:200]}")
    return elapsed


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--passes", type=int, default=2, help="single-user passes over the questions")
    ap.add_argument("--concurrency", type=int, help="ASSISTANT_CONCURRENCY for the app")
    args = ap.parse_args()

    from gradio_client import Client

    with tempfile.TemporaryDirectory(prefix="ui-load-") as tmpdir:
        tmp = Path(tmpdir)
        t0 = time.perf_counter()
        proc, url = start_app(tmp, args.concurrency)
        print(
            f"app up in {time.perf_counter() - t0:.1f} s at {url} (backend extractive, "
            f"concurrency {args.concurrency or 'default from settings'}; {os.cpu_count()} cores, "
            f"load average {os.getloadavg()[0]:.1f})"
        )
        try:
            client = Client(url, verbose=False)
            ask(client, QUESTIONS[0])  # warm-up: models load on first use
            single = [ask(client, q) for _ in range(args.passes) for q in QUESTIONS]
            single_median = statistics.median(single)
            print(
                f"single user: {len(single)} questions, median {single_median:.2f} s, "
                f"max {max(single):.2f} s"
            )

            clients = [Client(url, verbose=False) for _ in range(args.users)]
            latencies: list[float] = []
            errors: list[str] = []
            lock = threading.Lock()
            barrier = threading.Barrier(args.users)

            def user(i: int) -> None:
                barrier.wait()
                for r in range(args.rounds):
                    q = QUESTIONS[(i + r) % len(QUESTIONS)]
                    try:
                        dt = ask(clients[i], q)
                        with lock:
                            latencies.append(dt)
                    except Exception as exc:  # noqa: BLE001 - counted and reported
                        with lock:
                            errors.append(f"user {i}: {type(exc).__name__}: {exc}")

            threads = [threading.Thread(target=user, args=(i,)) for i in range(args.users)]
            t1 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - t1
            n = len(latencies)
            print(
                f"{args.users} users x {args.rounds} rounds: {n} answers, {len(errors)} errors, "
                f"wall {wall:.1f} s, {n / wall:.2f} answers/s"
            )
            if latencies:
                median, p95 = statistics.median(latencies), pct(latencies, 0.95)
                ratio = p95 / single_median
                print(
                    f"latency under load: median {median:.2f} s, p95 {p95:.2f} s, "
                    f"max {max(latencies):.2f} s; p95 / single-user median = {ratio:.1f}x"
                )
                ok = not errors and ratio < 5
                print(f"goal (no errors, p95 < 5x single median): {'met' if ok else 'NOT met'}")
            for e in errors[:10]:
                print("error:", e)
            return 0 if latencies and not errors else 1
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    sys.exit(main())
