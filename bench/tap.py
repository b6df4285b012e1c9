"""Cost of the judge's layer tap: answer generation and judge calls, without and with it.

    .venv/bin/python bench/tap.py [--rounds 5] [--threads 2]

One process, one model. First without a tap: a fixed answer prompt (prompt evaluation and
greedy generation, tokens/s) and the Yes/No judge (a full forward pass and the logits) on a
few claims; then the tap on the probe's layer is created (its own llama.cpp context) and
the same is measured again, the judge now reading the probe, with llama.cpp stopping at
the probe's layer. Prints medians and the ratios with/without (noisy machine: medians of
``--rounds`` rounds, cold first rounds dropped).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from assistant.config import Settings  # noqa: E402
from assistant.llm.local import LocalModel  # noqa: E402
from assistant.verify import LocalJudge  # noqa: E402
from assistant.verify.probe import Probe  # noqa: E402

EVIDENCE = [
    "Malaysia has an estimated 16.1 million tonnes of rare earth elements, according to the "
    "Department of Mineral and Geoscience, a resource valued at about RM800 billion.",
    "Lynas said the new magnet plant would be built in Kuantan, Pahang, with JS Link.",
    "The company did not publish investment details for the Pahang facility.",
]
CLAIMS = [
    "Malaysia has about 16.1 million tonnes of rare earth elements.",
    "Lynas will build the magnet plant in Texas.",
    "The Pahang facility has published investment details.",
]
MESSAGES = [
    {"role": "system", "content": "Answer in two sentences from the sources."},
    {"role": "user", "content": "Sources:\n" + "\n".join(EVIDENCE)
     + "\nQuestion: What does Malaysia hold and where will Lynas build its plant?"},
]


def measure(model: LocalModel, judge: LocalJudge, rounds: int) -> dict[str, float]:
    gen_rates, prefill_rates, judge_s = [], [], []
    llama = model.llama
    prompt = model.chat_prompt(MESSAGES)
    for r in range(rounds + 1):
        with model.lock:
            llama.reset()  # no KV reuse: the whole prompt is evaluated every round
            t0 = t1 = time.perf_counter()
            n = 0
            for tok in llama.generate(prompt, temp=0.0):
                n += 1
                if n == 1:
                    t1 = time.perf_counter()  # the prompt is evaluated, one token sampled
                if n >= 48 or tok == llama.token_eos():
                    break
            t2 = time.perf_counter()
        for c in CLAIMS:
            t3 = time.perf_counter()
            judge.scores(c + f" (round {r})", EVIDENCE)  # a new suffix each round
            if r:
                judge_s.append(time.perf_counter() - t3)
        if r:  # round 0 warms up
            prefill_rates.append(len(prompt) / (t1 - t0))
            gen_rates.append((n - 1) / (t2 - t1))
    return {"prefill tok/s": statistics.median(prefill_rates),
            "generate tok/s": statistics.median(gen_rates),
            "judge call s": statistics.median(judge_s)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    s = Settings(_env_file=None)
    model = LocalModel(s.model_path, s.cache_dir, args.threads, s.llm_context)
    probe = Probe.load(model.sha256)
    if probe is None:
        raise SystemExit("no packaged probe for this model (assistant/verify/probe.json)")
    print(f"load average {os.getloadavg()[0]:.1f}; probe on layers {probe.layers}")
    without = measure(model, LocalJudge(model), args.rounds)
    with model.lock:
        model.tap(probe.layers)
    with_tap = measure(model, LocalJudge(model, probe=probe), args.rounds)
    print(f"{'':16s} {'no tap':>8s} {'tap':>8s} {'ratio':>6s}")
    for k in without:
        print(f"{k:16s} {without[k]:8.2f} {with_tap[k]:8.2f} {with_tap[k] / without[k]:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
