"""Start-up of the page: bring the index up to date, warm the model, serve.

Job: what ``python app.py`` does after the environment is set (see
:func:`assistant.ui.main`): settings are read once, the index is brought up to date from
``corpus/`` and earlier uploads (an idempotent ingest, fast when nothing changed), the local
model warms up in a background thread, and the page is served on
``settings.host:settings.port``.

Compromises: a failed refresh is logged and the index is served as it is; a failed warm-up
is logged and the first question loads the model. ``refresh_index`` is the start-up ingest
until ``Assistant.refresh()`` takes it over.
"""

from __future__ import annotations

import logging
import threading
import time

from assistant.config import Settings
from assistant.errors import AssistantError
from assistant.service import Assistant
from assistant.ui.layout import build_app, launch

logger = logging.getLogger(__name__)


def refresh_index(assistant: Assistant, settings: Settings) -> None:
    """Bring the index up to date with ``corpus/`` (and earlier uploads); idempotent."""
    inputs = []
    if settings.corpus_dir.exists():
        inputs.append(str(settings.corpus_dir))
    else:
        logger.warning("corpus folder %s not found; serving the index as it is",
                       settings.corpus_dir)
    uploads = settings.index_dir / "uploads"
    if uploads.is_dir() and any(uploads.iterdir()):
        inputs.append(str(uploads))
    if not inputs:
        return
    t0 = time.perf_counter()
    result = assistant.ingest(inputs, prune=True)
    for origin, reason in result.failed:
        logger.warning("not indexed: %s: %s", origin, reason)
    logger.info(
        "index ready in %.1fs: %d added, %d updated, %d unchanged, %d removed, %d failed",
        time.perf_counter() - t0, len(result.added), len(result.updated),
        len(result.unchanged), len(result.removed), len(result.failed),
    )


def _warm(assistant: Assistant) -> None:
    """Load the local model and its fixed instructions while the page starts, so the first
    question does not pay for it. A model that cannot load is reported when asked."""
    try:
        assistant.warm()
        logger.info("the answer writer is warm")
    except Exception:  # noqa: BLE001 - a warm-up failure must not stop the page
        logger.warning("warm-up failed; the first answer will load the model", exc_info=True)


def serve() -> None:
    """Refresh the index from corpus/, warm the model, then serve the page (blocks)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings()
    assistant = Assistant(settings)
    try:
        refresh_index(assistant, settings)
    except AssistantError:
        logger.exception("the index could not be refreshed; serving it as it is")
    threading.Thread(target=_warm, args=(assistant,), name="warm-up", daemon=True).start()
    app = build_app(assistant)
    logger.info("serving on http://%s:%d (backend %s, concurrency %d)",
                settings.host, settings.port, settings.backend, settings.concurrency)
    launch(app, settings)
