"""What an ingest compares to skip unchanged articles: a hash of the raw article and the code.

``raw_hash(raw, settings, model)`` hashes a loaded article together with everything that
shapes its chunks: the source of the cleaning/chunking code (``text.py`` and every file of
the ``ingest`` package, by file name and bytes), ``chunk_max_tokens`` and the embedding
model's name. Equal raw hashes mean the article's chunks would come out the same, so the
indexer skips it without cleaning or embedding.

Compromise: any edit to those files (a comment too) re-cleans every article once; renaming
or adding an ingest module does the same.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from assistant.config import Settings
from assistant.models import RawArticle, content_hash

__all__ = ["raw_hash"]

_PIPELINE_FILES = ("text.py", "ingest")


@cache
def _pipeline_fingerprint() -> str:
    """Hash of the cleaning/chunking source code: a code change re-cleans every article."""
    root = Path(__file__).resolve().parent.parent  # the assistant package
    h = hashlib.sha256()
    for name in _PIPELINE_FILES:
        p = root / name
        files = sorted(p.rglob("*.py")) if p.is_dir() else [p]
        for f in files:
            if f.is_file():
                h.update(f.name.encode())
                h.update(f.read_bytes())
    return h.hexdigest()[:16]


def raw_hash(raw: RawArticle, settings: Settings, model: str) -> str:
    """Hash of a loaded article plus everything that shapes its chunks."""
    key = "\x1f".join(
        (
            _pipeline_fingerprint(),
            str(settings.chunk_max_tokens),
            model,
            raw.id,
            raw.title,
            raw.url,
            str(raw.published),
            raw.source,
            raw.text,
        )
    )
    return content_hash(key)
