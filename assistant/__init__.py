"""Rare-earth news assistant: cited answers from indexed articles, every sentence checked.

``from assistant import Assistant, Settings`` then ``Assistant(Settings()).ask("...")``.
The names below are imported on first use, so that ``import assistant.models`` stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assistant.config import Settings
    from assistant.models import Answer, Filters
    from assistant.service import Assistant

__version__ = "0.1.0"
__all__ = ["Assistant", "Settings", "Answer", "Filters"]

_HOMES = {
    "Assistant": "assistant.service",
    "Settings": "assistant.config",
    "Answer": "assistant.models",
    "Filters": "assistant.models",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'assistant' has no attribute {name!r}")
