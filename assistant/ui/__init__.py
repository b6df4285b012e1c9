"""The Gradio page: chat with cited, checked answers; a fact-check tab; the library.

Modules: ``render`` (pure HTML from records, no gradio), ``exports`` (check exports, upload
checks, paths out of messages), ``guard`` (input limits, answers in flight per user, sign-in
throttle, backend choice; no gradio), ``page`` (state and the chat, feedback and fact-check
handlers), ``library`` (the library tab's handlers), ``layout`` (the Blocks, theme, launch),
``start`` (start-up: index refresh, warm-up, serve), ``style.css``. This package is the only
place that imports gradio, and only ``page``, ``library``, ``layout`` and ``start`` do.

Contract: importing the package (or ``render``) changes nothing in the environment; the
settings gradio reads at import are set by :func:`main`, the entry point, before gradio is
imported.
"""

from __future__ import annotations

import os

__all__ = ["main"]


def main() -> None:
    """``python app.py``: set gradio's environment, then refresh the index and serve."""
    # Gradio reads this when it is imported: no telemetry, no version check calls.
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from assistant.ui.start import serve

    serve()
