"""Start-up of the page: bring the index up to date, warm the model, serve.

Job: what ``python app.py`` does after the environment is set (see
:func:`assistant.ui.main`): settings are read once, the index is brought up to date from
``corpus/`` and earlier uploads (an idempotent ingest, fast when nothing changed), the local
model warms up in a background thread, and the page is served on
``settings.host:settings.port``.

Compromises: a failed refresh is logged and the index is served as it is; a failed warm-up
is logged and the first question loads the model.
"""

from __future__ import annotations

import logging
import threading

from assistant.config import Settings
from assistant.errors import AssistantError
from assistant.service import Assistant
from assistant.ui.layout import build_app, launch

logger = logging.getLogger(__name__)


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
        assistant.refresh()
    except AssistantError:
        logger.exception("the index could not be refreshed; serving it as it is")
    threading.Thread(target=_warm, args=(assistant,), name="warm-up", daemon=True).start()
    app = build_app(assistant)
    logger.info("serving on http://%s:%d (backend %s, concurrency %d)",
                settings.host, settings.port, settings.backend, settings.concurrency)
    launch(app, settings)
