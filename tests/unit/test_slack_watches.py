"""The rules behind watched questions and digests (assistant/slack/watches.py): when an answer
counts as changed, what changed, how new articles group into stories, the state file."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from assistant.errors import StoreError
from assistant.models import ArticleInfo
from assistant.slack import watches as w
from tests.unit.fakes import SlackAssistant, canned_answer


def info(article_id: str, day: int | None, h: str = "h") -> ArticleInfo:
    return ArticleInfo(article_id, f"T {article_id}", "o", h, 1,
                       published=date(2026, 1, day) if day else None, source=f"S {article_id}")


def test_the_library_key_changes_with_any_article_and_not_with_order() -> None:
    a, b = info("a", 1), info("b", 2)
    assert w.library_key([a, b]) == w.library_key([b, a])
    assert w.library_key([a, b]) != w.library_key([a, info("b", 2, h="other")])
    assert w.library_key([a]) != w.library_key([a, b])
    assert len(w.library_key([])) > 8  # a content hash, stable across processes


def test_an_answer_changes_when_its_sources_or_words_do() -> None:
    one = canned_answer("q")
    same = canned_answer("another question, same answer")
    assert w.answer_signature(one) == w.answer_signature(same)
    reworded = canned_answer("q")
    reworded.text = reworded.text.replace("3,000", "4,000")
    assert w.answer_signature(reworded) != w.answer_signature(one)
    spaced = canned_answer("q")
    spaced.text = "  " + spaced.text.replace(" ", "  ")
    assert w.answer_signature(spaced) == w.answer_signature(one)  # layout is no change
    assert w.cited_articles(one) == (("malaysia", "Malaysia's magnet deal", "2025-11-20"),)


def test_what_changed_names_sources_added_and_dropped() -> None:
    old = w.Watch(1, "C1", "U1", "q", "1.1", sources=(("gone", "Old news", "2025-01-02"),))
    lines = w.what_changed(old, canned_answer("q"))
    assert lines == ["new source: Malaysia's magnet deal (2025-11-20)",
                     "no longer cited: Old news (2025-01-02)"]
    same = w.Watch(1, "C1", "U1", "q", "1.1", sources=w.cited_articles(canned_answer("q")))
    assert w.what_changed(same, canned_answer("q")) == ["the answer's wording changed"]


def test_new_articles_group_into_stories_newest_first() -> None:
    class Clusters:
        @staticmethod
        def cluster_of(article_id: str) -> str:
            return {"b": "a"}.get(article_id, article_id)

    from assistant.index.stories import group_stories

    groups = group_stories([info("b", 3), info("c", 2), info("a", 1), info("d", None)],
                           Clusters())
    assert [[a.id for a in g] for g in groups] == [["a", "b"], ["c"], ["d"]]
    assert [[a.id for a in g] for g in group_stories([info("b", 3), info("a", 1)], None)] == [
        ["b"], ["a"]]


def test_state_keeps_watches_and_reported_articles(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    state = w.SlackState(tmp_path / "slack.sqlite3")
    watch = state.add_watch("C1", "U1", "How big?", "1.1", canned_answer("q"), "lib1")
    assert (watch.id, watch.question, watch.library) == (1, "How big?", "lib1")
    assert watch.sources == w.cited_articles(canned_answer("q"))
    state.update_watch(watch.id, None, "lib2")
    assert state.watches("C1")[0].library == "lib2" and state.watches("C2") == []
    state.mark_reported([info("a", 1)])
    assert state.reported() == {"a": "h"}
    state.put("k", "v")
    assert state.get("k") == "v" and state.get("nope") is None
    monkeypatch.setattr(w, "MAX_WATCHES_PER_CHANNEL", 1)
    with pytest.raises(StoreError, match="already has 1 watches"):
        state.add_watch("C1", "U1", "Another?", "1.2", canned_answer("q"), "lib1")
    state.remove_watch(watch.id)
    assert state.watches() == []


def test_watches_are_re_asked_only_after_the_library_changed(tmp_path: Path) -> None:
    assistant = SlackAssistant()
    watches = w.Watches(assistant, w.SlackState(tmp_path / "s.sqlite3"))
    answer = watches.ask("How big?")
    watches.state.add_watch("C1", "U1", "How big?", "1.1", answer, watches.library())
    assert watches.check() == [] and len(assistant.calls) == 1
    assistant.articles.append(info("new", 5))
    assert watches.check() == []  # re-asked, same answer: nothing to post
    assert len(assistant.calls) == 2 and watches.check() == [] and len(assistant.calls) == 2


def test_whats_new_merges_copies_and_says_when_feeds_were_polled() -> None:
    from datetime import UTC, datetime

    from assistant.feeds.state import FeedState
    from assistant.ui.whatsnew import feed_summary, whats_new_html

    class Clusters:
        @staticmethod
        def cluster_of(article_id: str) -> str:
            return {"b": "a"}.get(article_id, article_id)

    arts = [info("b", 3), info("c", 2), info("a", 1)]
    html = whats_new_html(arts, Clusters(), {}, limit=1)
    assert "3 articles, 2 stories; newest article 2026-01-03" in html
    assert "also distributed by 1 outlet: S b (2026-01-03)" in html  # under the earliest
    assert "T a" in html and "T c" not in html and "and 1 older stories" in html
    feeds = {"u": FeedState("u", last_poll=datetime(2026, 1, 4, 9, 30, tzinfo=UTC),
                            failures=2)}
    assert feed_summary(feeds) == "Feeds: 1 watched, last polled 2026-01-04 09:30 UTC (1 failing)."
    assert "<script>" not in whats_new_html([info("<script>", 1)])
