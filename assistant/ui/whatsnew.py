"""The page's "What's new" view: the newest stories in the library and the last feed poll.

``whats_new_html(articles, clusters=None, feeds=None, limit=25)`` is pure (HTML, no Gradio):
the newest articles, one line per story (copies of one story merged under their earliest
member, with "also distributed by N outlets: names, dates"), each with its date, outlet and
link; above them the date of the newest article and of the last feed poll (or that no feed
is watched). :func:`whats_new` builds it for an Assistant; :func:`feed_summary` sums up the
feed watcher's state.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from assistant.index.stories import as_copies, group_stories
from assistant.models import ArticleInfo
from assistant.ui.render import copies_html, error_html, esc, fmt_date, safe_url

__all__ = ["feed_summary", "whats_new", "whats_new_html"]

logger = logging.getLogger(__name__)


def feed_summary(states: Mapping[str, Any]) -> str:
    """``"Feeds: 3 watched, last polled 2026-08-19 14:05 UTC (1 failing)"``, or that none is."""
    if not states:
        return "No feed is watched (set ASSISTANT_FEEDS, or run `assistant watch URL`)."
    polls = [s.last_poll for s in states.values() if getattr(s, "last_poll", None)]
    failing = sum(1 for s in states.values() if getattr(s, "failures", 0))
    last = max(polls).strftime("%Y-%m-%d %H:%M UTC") if polls else "never"
    text = f"Feeds: {len(states)} watched, last polled {last}"
    return text + (f" ({failing} failing)" if failing else "") + "."


def whats_new_html(articles: Sequence[ArticleInfo], clusters: Any = None,
                   feeds: Mapping[str, Any] | None = None, limit: int = 25,
                   now: datetime | None = None) -> str:
    """The view's HTML (module doc)."""
    stories = group_stories(articles, clusters)
    dated = [a.published for a in articles if a.published]
    head = (f"{len(articles)} articles, {len(stories)} stories; newest article "
            f"{fmt_date(max(dated)) if dated else 'undated'}. {feed_summary(feeds or {})}")
    items = []
    for story in stories[:limit]:
        first = story[0]
        title = esc(first.title or first.id)
        url = safe_url(first.url)
        link = f'<a href="{esc(url)}" target="_blank" rel="noopener">{title}</a>' if url else title
        meta = " · ".join(x for x in (fmt_date(first.published), esc(first.source)) if x)
        copies = f"<div>{copies_html(as_copies(story[1:]))}</div>" if len(story) > 1 else ""
        items.append(f'<li class="story">{link}<div class="meta">{meta}</div>{copies}</li>')
    more = (f'<p class="hint">and {len(stories) - limit} older stories (Library tab)</p>'
            if len(stories) > limit else "")
    body = f'<ol class="whats-new">{"".join(items)}</ol>' if items else \
        '<p class="hint">The library is empty.</p>'
    return f'<div id="whats-new"><p class="hint">{esc(head)}</p>{body}{more}</div>'


def whats_new(assistant: Any) -> str:
    """The view for an :class:`~assistant.service.Assistant` (its library, its story
    clusters when it has them, its index's feed state); an error line when unreadable."""
    from assistant.feeds.state import FeedStates

    try:
        articles = assistant.sources()
        clusters = getattr(assistant, "clusters", None)
        feeds = FeedStates(assistant.settings.feeds_path).all()
    except Exception:  # noqa: BLE001 - the page stays up; the details are logged
        logger.exception("the What's new view could not be built")
        return error_html("The library could not be read; please try again in a moment.")
    return whats_new_html(articles, clusters, feeds)
