"""How the faces and the retriever use story clusters (:mod:`.clusters` finds them).

* :func:`one_copy_per_story`: best-first passages, those of other copies of an already
  ranked story dropped (the retriever);
* :func:`copies_line` / :func:`outlet_name`: "also distributed by N outlets: ..." text;
* :func:`as_copies`: a group's other members as ``Copy`` records;
* :func:`group_stories`: articles grouped by story, newest story first (the Slack digest,
  the page's What's new).

Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeVar

from assistant.models import ArticleInfo, Copy

__all__ = ["as_copies", "copies_line", "group_stories", "one_copy_per_story", "outlet_name"]

T = TypeVar("T", bound=Hashable)


def one_copy_per_story(
    ranked: Sequence[tuple[T, str]], story_of: Callable[[str], str]
) -> list[T]:
    """Best-first ``(passage id, article id)``: keep the passages of the best-ranked article
    of each story (``story_of(article) -> cluster id``), drop those of its other copies:
    ``one_copy_per_story([("b:0","b"),("a:0","a"),("b:1","b")], {"a":"a","b":"a"}.get)``
    -> ``["b:0", "b:1"]``.
    """
    first: dict[str, str] = {}
    out = []
    for key, article in ranked:
        story = story_of(article)
        if first.setdefault(story, article) == article:
            out.append(key)
    return out


def copies_line(copies: Sequence[Copy], limit: int = 3) -> str:
    """Plain text for faces: ``"also distributed by 2 outlets: A (2024-04-09), B (undated)"``."""
    if not copies:
        return ""
    names = [f"{outlet_name(c.source)} ({c.published.isoformat() if c.published else 'undated'})"
             for c in copies[:limit]]
    more = f" and {len(copies) - limit} more" if len(copies) > limit else ""
    noun = "outlet" if len(copies) == 1 else "outlets"
    return f"also distributed by {len(copies)} {noun}: " + ", ".join(names) + more


def outlet_name(source: str, limit: int = 40) -> str:
    """A short outlet name: ``"IBN newswire (press release ...)" -> "IBN newswire"``."""
    name = (source or "").split(" (", 1)[0].strip() or "unknown outlet"
    return name if len(name) <= limit else name[: limit - 1].rstrip() + "…"


def group_stories(articles: Sequence[ArticleInfo], clusters: Any) -> list[list[ArticleInfo]]:
    """Articles grouped by story (``clusters.cluster_of``; None: each its own story), each
    group earliest first, the groups newest first (the digest and the page's What's new)."""
    groups: dict[str, list[ArticleInfo]] = {}
    for a in articles:
        key = a.id
        if clusters is not None:
            try:
                key = str(clusters.cluster_of(a.id))
            except Exception:  # noqa: BLE001 - no cluster: its own story
                key = a.id
        groups.setdefault(key, []).append(a)

    def day(a: ArticleInfo) -> int:
        return a.published.toordinal() if a.published else 0

    ordered = [sorted(g, key=lambda a: (day(a), a.id)) for g in groups.values()]
    ordered.sort(key=lambda g: max(day(a) for a in g), reverse=True)
    return ordered


def as_copies(articles: Sequence[ArticleInfo]) -> tuple[Copy, ...]:
    """Library rows as :class:`Copy` records (a story group's other members), so the faces
    write them with :func:`copies_line` like a source's copies."""
    return tuple(Copy(a.id, a.title, a.source, a.published, a.url) for a in articles)
