"""ONNX Runtime path for the packaged all-MiniLM-L6-v2: exported once, offline, from its weights.

``OnnxEncoder(model_path, cache_dir, "int8").encode(["rare earth magnets"]).shape -> (1, 384)``

On first use the package's own weights are exported to ONNX (``torch.onnx.export``, the
TorchScript exporter: no network, a few seconds) into
``<cache_dir>/onnx/all-MiniLM-L6-v2-<key>/model.onnx``, where ``<key>`` hashes the model
files and :data:`EXPORT_VERSION`; the int8 variant (``model.int8.onnx``) is that graph with
its weight matrices quantized by ``onnxruntime.quantization.quantize_dynamic`` (int8
per-channel weights, 7-bit range so AVX2 kernels never saturate; activations quantized per
call). Each file is written under a temporary name, checked against the torch model on a
probe sentence, then renamed; a file lock in the folder keeps two processes from exporting
at once (the second waits and reuses the first's file).

The exported graph includes sentence-transformers' mean pooling and L2 normalisation, so a
run returns the final vectors. Texts run one per ``session.run`` (no padding at all; with
per-call activation quantization, an int8 vector then never depends on which other texts
were embedded with it) on a thread pool of one single-threaded run per core, longest
first: on a shared 2-core machine this beat one two-threaded session over padded batches
of 8 to 64 texts, and ONNX Runtime's offline transformer fusions (Attention,
SkipLayerNormalization) added nothing measurable, so the graph is used as exported.
``bench/ingest.py`` and ``bench/retrieval.py --backends torch,onnx`` measure speed and
retrieval quality against the torch model.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import numpy as np

from assistant.errors import ModelError

logger = logging.getLogger(__name__)

__all__ = ["EXPORT_VERSION", "MAX_TOKENS", "OnnxEncoder", "Variant", "export", "export_dir"]

Variant = Literal["fp32", "int8"]
EXPORT_VERSION = 1  # bump when the export recipe changes: old exports are then not reused
MAX_TOKENS = 256  # word pieces read per text, [CLS] and [SEP] included (sentence-transformers)
_FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx"}
_KEY_FILES = ("config.json", "model.safetensors", "pytorch_model.bin", "tokenizer.json")
_PROBE = "Lynas Rare Earths will build a heavy rare earth separation plant in Texas."


def export_dir(model_path: Path, cache_dir: Path) -> Path:
    """``<cache_dir>/onnx/<model folder name>-<hash of the model files + recipe>``."""
    h = hashlib.sha256(f"export-v{EXPORT_VERSION}".encode())
    for name in _KEY_FILES:
        f = model_path / name
        if f.is_file():
            h.update(name.encode())
            with f.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 22), b""):
                    h.update(block)
    name = "all-MiniLM-L6-v2" if model_path.name == "model" else model_path.name  # the package's
    return Path(cache_dir).expanduser() / "onnx" / f"{name}-{h.hexdigest()[:12]}"


def export(model_path: Path, cache_dir: Path, variant: Variant = "fp32") -> Path:
    """Path of the exported model, exporting it (once, under a file lock) when missing."""
    from filelock import FileLock

    folder = export_dir(model_path, cache_dir)
    target = folder / _FILES[variant]
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder / "export.lock")):
        if target.is_file():  # another process exported it while we waited
            return target
        fp32 = folder / _FILES["fp32"]
        if not fp32.is_file():
            logger.info("exporting the embedding model to ONNX (once): %s", fp32)
            _write_checked(fp32, lambda tmp: _export_fp32(model_path, tmp), model_path, 1e-4)
        if variant == "int8":
            logger.info("quantizing the ONNX embedding model to int8 (once): %s", target)
            _write_checked(target, lambda tmp: _quantize(fp32, tmp), model_path, 0.25)
    return target


def _write_checked(target: Path, write: Any, model_path: Path, tolerance: float) -> None:
    """Write to a temporary name, compare its probe vector with torch's, then rename.

    ``tolerance``: largest allowed distance ``|got - want|`` (L2; both vectors have norm 1).
    """
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        got = _run_file(tmp, model_path, [_PROBE])[0]
        want = _torch_vector(model_path, _PROBE)
        err = float(np.linalg.norm(got - want))
        if not err <= tolerance:
            raise ModelError(f"exported model {target.name} differs from the torch model "
                             f"by {err:.3g} (allowed {tolerance:g})")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _torch_module(model_path: Path) -> Any:
    """The transformer + mean pooling + L2 normalisation, as sentence-transformers computes."""
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Loading weights" bar on stderr
    bert = AutoModel.from_pretrained(
        str(model_path), attn_implementation="eager", local_files_only=True
    ).eval()

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.bert(
                input_ids=input_ids, attention_mask=attention_mask,
                token_type_ids=torch.zeros_like(input_ids),
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            summed = (hidden * mask).sum(1)
            mean = summed / torch.clamp(mask.sum(1), min=1e-9)
            return torch.nn.functional.normalize(mean, p=2.0, dim=1)

    return Pooled().eval()


def _torch_vector(model_path: Path, text: str) -> np.ndarray:
    import torch

    ids = np.array([_tokenizer(model_path).encode(text).ids], dtype=np.int64)
    with torch.inference_mode():
        out = _torch_module(model_path)(torch.from_numpy(ids), torch.ones_like(
            torch.from_numpy(ids)))
    return np.asarray(out.numpy()[0], dtype=np.float32)


def _export_fp32(model_path: Path, target: Path) -> None:
    import torch

    module = _torch_module(model_path)
    ids = torch.tensor([_tokenizer(model_path).encode(_PROBE).ids], dtype=torch.int64)
    with warnings.catch_warnings():  # the TorchScript exporter announces its successor
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, (ids, torch.ones_like(ids)), str(target), dynamo=False,
            input_names=["input_ids", "attention_mask"], output_names=["embedding"],
            dynamic_axes={"input_ids": {0: "batch", 1: "tokens"},
                          "attention_mask": {0: "batch", 1: "tokens"}, "embedding": {0: "batch"}},
            opset_version=17, do_constant_folding=True,
        )


class _QuietQuantizer(logging.Filter):
    """Drops what ``quantize_dynamic`` logs on the root logger (advice, one line per node)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "onnxruntime" not in record.pathname


def _quantize(fp32: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root, quiet = logging.getLogger(), _QuietQuantizer()
    root.addFilter(quiet)
    try:
        quantize_dynamic(
            str(fp32), str(target), weight_type=QuantType.QInt8, per_channel=True,
            reduce_range=True, op_types_to_quantize=["MatMul"],
        )
    finally:
        root.removeFilter(quiet)


def _tokenizer(model_path: Path, max_tokens: int | None = MAX_TOKENS) -> Any:
    """The model's fast tokenizer; its file pads and truncates to 128: both turned off here."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_path / "tokenizer.json"))
    tok.no_padding()
    if max_tokens is None:
        tok.no_truncation()
    else:
        tok.enable_truncation(max_length=max_tokens)
    return tok


def _session(path: Path) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = 1  # parallel runs, one per core, instead of one split run
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # shared CPUs
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _run_file(path: Path, model_path: Path, texts: list[str]) -> np.ndarray:
    session, tok = _session(path), _tokenizer(model_path)
    return np.concatenate([_run_one(session, e.ids) for e in tok.encode_batch(texts)])


def _run_one(session: Any, ids: Sequence[int]) -> np.ndarray:
    arr = np.asarray([ids], dtype=np.int64)
    out = session.run(None, {"input_ids": arr, "attention_mask": np.ones_like(arr)})[0]
    return np.asarray(out, dtype=np.float32)


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class OnnxEncoder:
    """One ONNX Runtime session over the exported model, run from ``workers`` threads."""

    def __init__(
        self, model_path: Path, cache_dir: Path, variant: Variant = "fp32",
        workers: int | None = None,
    ) -> None:
        self.model_path = Path(model_path)
        self.variant: Variant = variant
        self.path = export(self.model_path, Path(cache_dir), variant)
        self.session = _session(self.path)
        self.tokenizer = _tokenizer(self.model_path)
        self.counter = _tokenizer(self.model_path, None)
        self.workers = workers or _cores()
        self.dimension = int(self.session.get_outputs()[0].shape[-1])
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        logger.info("embedding with ONNX Runtime (%s, %d threads): %s",
                    variant, self.workers, self.path)

    def count_tokens(self, text: str) -> int:
        return len(self.counter.encode(text, add_special_tokens=False).ids)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Normalized float32 vectors, one row per text, in input order."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        encs = self.tokenizer.encode_batch(list(texts))
        if len(texts) == 1 or self.workers == 1:
            for i, e in enumerate(encs):
                out[i] = _run_one(self.session, e.ids)[0]
            return out
        order = sorted(range(len(encs)), key=lambda i: -len(encs[i].ids))  # longest first

        def one(i: int) -> None:
            out[i] = _run_one(self.session, encs[i].ids)[0]

        for _ in self._executor().map(one, order):
            pass
        return out

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="embed")
            return self._pool
