"""Speed of the installed llama.cpp build against another build of the same version.

    .venv/bin/python bench/build.py --other DIR [--runs 2] [--rounds 3]

``scripts/setup.sh`` builds llama-cpp-python for the CPU it runs on (AVX-512 where
``/proc/cpuinfo`` lists it, else AVX2). To see what that buys, build the other variant into
a folder and point ``--other`` at it, e.g. the generic AVX2 build::

    CMAKE_ARGS=-DGGML_NATIVE=OFF .venv/bin/python -m pip wheel --no-deps --no-cache-dir \\
        llama-cpp-python==0.3.36 -w /tmp/w && \\
        .venv/bin/python -m pip install --no-deps --target /tmp/avx2 /tmp/w/*.whl

Each build runs in its own child process (a process can load one ``libllama``), the two
alternating ``--runs`` times so that machine noise hits both; a child measures what
``bench/tap.py`` measures with the tap on (prompt evaluation and greedy generation of an
answer, the probe judge's call, the product's path) over ``--rounds`` rounds. Prints each
build's medians, and the ratio other / installed. Probe scores differ slightly between
builds (other kernels round differently): the packaged probe is fitted on the build
``setup.sh`` makes on the machine that fitted it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def child(rounds: int, threads: int) -> int:
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "bench"))
    import llama_cpp
    from tap import measure

    from assistant.config import Settings
    from assistant.llm.local import LocalModel
    from assistant.verify import LocalJudge
    from assistant.verify.probe import Probe

    s = Settings(_env_file=None)
    model = LocalModel(s.model_path, s.cache_dir, threads, s.llm_context)
    probe = Probe.load(model.sha256)
    if probe is None:
        raise SystemExit("no packaged probe for this model (assistant/verify/probe.json)")
    with model.lock:
        model.tap(probe.layers)
    out = measure(model, LocalJudge(model, probe=probe), rounds)
    out["library"] = str(Path(llama_cpp.__file__).parent)
    print(json.dumps(out))
    return 0


def run(other: str | None, rounds: int, threads: int) -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    if other:
        env["PYTHONPATH"] = os.pathsep.join([other, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    res = subprocess.run(
        [sys.executable, __file__, "--child", "--rounds", str(rounds), "--threads", str(threads)],
        env=env, capture_output=True, text=True, check=False,
    )
    if res.returncode:
        raise SystemExit(f"child failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--other", required=False, help="folder holding another llama_cpp package")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.rounds, args.threads)
    if args.other and not (Path(args.other) / "llama_cpp").is_dir():
        raise SystemExit(f"{args.other} holds no llama_cpp package")
    builds = {"installed": None, "other": args.other} if args.other else {"installed": None}
    got: dict[str, list[dict]] = {k: [] for k in builds}
    for i in range(args.runs):
        for name, path in builds.items():
            got[name].append(run(path, args.rounds, args.threads))
            print(f"run {i + 1}/{args.runs} {name}: {got[name][-1]}", file=sys.stderr, flush=True)
    keys = ["prefill tok/s", "generate tok/s", "judge call s"]
    med = {n: {k: statistics.median(r[k] for r in rs) for k in keys} for n, rs in got.items()}
    for n, rs in got.items():
        print(f"{n}: {rs[0]['library']}")
    print(f"load average {os.getloadavg()[0]:.1f}; medians of {args.runs} runs x "
          f"{args.rounds} rounds")
    print(f"{'':16s} " + " ".join(f"{n:>10s}" for n in builds)
          + (f" {'ratio':>6s}" if args.other else ""))
    for k in keys:
        row = " ".join(f"{med[n][k]:10.2f}" for n in builds)
        ratio = f" {med['other'][k] / med['installed'][k]:6.2f}" if args.other else ""
        print(f"{k:16s} {row}{ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
