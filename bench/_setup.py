"""Shared start-up of the bench scripts: offline model loading, import paths, data folders.

``from _setup import REPO, NEWS, CACHE, SHARED`` first thing in a script run as
``.venv/bin/python bench/<script>.py`` (its folder is on ``sys.path`` already).
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", category=FutureWarning)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

REPO = Path(__file__).resolve().parents[1]
for _path in (str(REPO / "bench"), str(REPO)):
    if _path not in sys.path:
        sys.path.insert(0, _path)
NEWS = REPO.parent / "shared" / "news"
SHARED = REPO.parent / "shared" / "bench"
CACHE = Path.home() / ".cache" / "rare-earth-assistant"
