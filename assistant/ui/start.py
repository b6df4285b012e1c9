"""Start-up of the page: bring the index up to date, warm the model, serve.

Job: what ``python app.py`` does after the environment is set (see
:func:`assistant.ui.main`): settings are read once, the page is served on
``settings.host:settings.port``, and a background thread brings the index up to
date from ``corpus/`` and earlier uploads (an idempotent ingest, fast when nothing changed),
starts watching ``settings.feeds`` (if any) and then warms the local model. Start-up
waits for the refresh at most ``READY_WAIT`` seconds (so the first questions see the
corpus), then serves the index as it is while the refresh goes on: a hung ingest never
keeps the page down.

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

#: seconds start-up waits for the refresh before serving anyway (a first ingest of a big
#: corpus, or an ingest hung elsewhere, then goes on behind the page)
READY_WAIT = 60.0


def _refresh(assistant: Assistant) -> None:
    """Bring the index up to date; a failure leaves it as it is (the page serves it)."""
    try:
        assistant.refresh()
    except AssistantError as exc:
        logger.error("the index could not be refreshed; serving it as it is: %s", exc)
    except Exception:  # noqa: BLE001 - a refresh failure must not stop the page
        logger.exception("the index could not be refreshed; serving it as it is")


def _start_up(assistant: Assistant, refreshed: threading.Event) -> None:
    from assistant.feeds.watch import watch_in_background

    _refresh(assistant)
    refreshed.set()
    watch_in_background(assistant)  # settings.feeds, polled every settings.feed_interval
    assistant.warm_quietly()


def start_background(assistant: Assistant) -> threading.Event:
    """Refresh the index, then warm the model, in a daemon thread; the returned event is set
    once the refresh is over (done or failed)."""
    refreshed = threading.Event()
    threading.Thread(
        target=_start_up, args=(assistant, refreshed), name="start-up", daemon=True
    ).start()
    return refreshed


def serve() -> None:
    """Serve the page (blocks) once the index is refreshed or ``READY_WAIT`` has passed."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings()
    assistant = Assistant(settings)
    if not start_background(assistant).wait(READY_WAIT):
        logger.warning("the index is still being brought up to date; serving it as it is "
                       "meanwhile (answers may miss articles until the refresh ends)")
    app = build_app(assistant)
    logger.info("serving on http://%s:%d (backend %s, concurrency %d)",
                settings.host, settings.port, settings.backend, settings.concurrency)
    launch(app, settings)
