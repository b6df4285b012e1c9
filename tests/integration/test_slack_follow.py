"""Following the news in Slack (issue 16, item 4), against the fake Slack Web API on 127.0.0.1
with signed requests through the HTTP-mode server: ``/rare-earth watch`` answers and stores
a question, a change of the library that changes its answer is posted in the watch's thread
with what changed, ``watches`` / ``unwatch`` manage them; the digest posts the new articles
to its channel, copies of one story merged, each with a checked sentence and its citation.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from assistant.models import Answer, ArticleInfo, Claim, Passage, Source, Verdict
from assistant.slack.threads import PLACEHOLDER
from tests.integration.fake_slack import FakeSlack
from tests.integration.test_slack import Harness, make_settings
from tests.unit.fakes import SlackAssistant, slack_chunk

pytestmark = pytest.mark.slow


def article(article_id: str, title: str, outlet: str, day: int) -> ArticleInfo:
    return ArticleInfo(article_id, title, f"feed#{article_id}", f"h-{article_id}", 2,
                       url=f"https://news.example/{article_id}", published=date(2026, 3, day),
                       source=outlet)


def about(info: ArticleInfo, sentence: str, label: str = "supported") -> Answer:
    """An answer citing ``info``'s article as [1] with one checked sentence."""
    chunk = replace(slack_chunk(), id=f"{info.id}:0", article_id=info.id, title=info.title,
                    source=info.source, url=info.url, published=info.published)
    text = f"{sentence} [1]."
    return Answer(question="q", text=text, claims=[Claim(text, [1], Verdict(label, 0.9))],
                  sources=[Source(1, Passage(chunk, 0.9))], backend="fake")


def test_watch_answers_then_posts_changes_in_its_thread(fake: FakeSlack, tmp_path: Path) -> None:
    assistant = SlackAssistant()
    h = Harness(fake, make_settings(tmp_path), assistant)
    try:
        assert h.command("watch How big is the plant?").status_code == 200
        h.idle()
        parent = fake.calls_to("chat.postMessage")[0].args
        assert parent["channel"] == "C1" and "thread_ts" not in parent
        assert parent["text"] == "<@U123> is watching: How big is the plant?"
        parent_ts = next(m["ts"] for msgs in fake.messages.values() for m in msgs
                         if m["text"] == parent["text"])
        placeholder = fake.calls_to("chat.postMessage")[1].args
        assert placeholder["thread_ts"] == parent_ts and placeholder["text"] == PLACEHOLDER
        first = [c.args for c in fake.calls_to("chat.update") if c.args.get("blocks")][-1]
        assert "3,000-tonne" in json.dumps(first["blocks"])
        listing = h.command("watches")
        assert "1. How big is the plant? (by <@U123>)" in listing.text

        # nothing new in the library: nothing to say
        assert h.bot.follow.check_watches(h.bot.app.client) == 0
        posts_before = len(fake.calls_to("chat.postMessage"))
        # a new article arrives and the answer now cites it
        news = article("expansion", "Pahang plant doubles its capacity", "Wire B", 9)
        assistant.articles.append(news)
        assistant.answer = lambda q: about(news, "The plant will make 6,000 tonnes a year")
        assert h.bot.follow.check_watches(h.bot.app.client) == 1
        update = fake.calls_to("chat.postMessage")[posts_before:]
        assert [c.args["thread_ts"] for c in update] == [parent_ts, parent_ts]
        head = update[0].args["text"]
        assert "New articles change the answer to" in head and "How big is the plant?" in head
        assert "new source: Pahang plant doubles its capacity (2026-03-09)" in head
        assert "no longer cited: Malaysia" in head and "3,000-tonne" in head  # the earlier one
        assert "6,000 tonnes" in json.dumps(update[1].args["blocks"])
        # checked again without a change of the library: not re-asked, not re-posted
        asked = len(assistant.calls)
        assert h.bot.follow.check_watches(h.bot.app.client) == 0
        assert len(assistant.calls) == asked

        # (a new trigger_id each: the same command twice is a replay and answered once)
        assert "Stopped watching: How big is the plant?" in h.command(
            "unwatch 1", trigger_id="t2").text
        assert "Nothing is watched" in h.command("watches", trigger_id="t3").text
        assert "Which one?" in h.command("unwatch 7", trigger_id="t4").text
    finally:
        h.close()


def test_digest_posts_new_stories_to_its_channel_with_copies_merged(
    fake: FakeSlack, tmp_path: Path
) -> None:
    assistant = SlackAssistant()
    h = Harness(fake, make_settings(tmp_path, slack_digest_channel="CDIGEST"), assistant)
    try:
        client = h.bot.app.client
        assert h.bot.follow.digest(client) == 0  # the first run: the library as it is
        assert not fake.calls_to("chat.postMessage")

        wire_a = article("deal-a", "Magnet maker signs offtake deal", "Wire A", 4)
        wire_b = article("deal-b", "Magnet maker signs offtake deal", "Wire B", 5)
        mine = article("mine", "Tungsten mine starts production", "Wire C", 6)
        assistant.articles += [wire_a, wire_b, mine]

        class Clusters:  # deal-b is a syndicated copy of deal-a
            @staticmethod
            def cluster_of(article_id: str) -> str:
                return "deal-a" if article_id.startswith("deal") else article_id

        assistant.clusters = Clusters()

        def answer(question: str) -> Answer:
            if "Tungsten" in question:
                return about(mine, "The mine started production in March", "unsupported")
            return about(wire_a, "The maker agreed to supply 500 tonnes")

        assistant.answer = answer
        assert h.bot.follow.digest(client) == 2
        post, = fake.calls_to("chat.postMessage")
        assert post.args["channel"] == "CDIGEST"
        blocks = json.dumps(post.args["blocks"], ensure_ascii=False)
        assert "2 new stories" in blocks
        assert blocks.index("Tungsten mine") < blocks.index("Magnet maker")  # newest first
        assert "also distributed by 1 outlet: Wire B (2026-03-05)" in blocks
        assert ":white_check_mark: The maker agreed to supply 500 tonnes" in blocks
        assert "<https://news.example/deal-a|Magnet maker signs offtake deal>" in blocks
        assert ":warning: The mine started production in March" in blocks
        assert "not backed by the sources" in blocks
        assert h.bot.follow.digest(client) == 0  # reported once
        assert len(fake.calls_to("chat.postMessage")) == 1
    finally:
        h.close()


def test_the_jobs_are_scheduled_when_the_bot_runs(fake: FakeSlack, tmp_path: Path) -> None:
    h = Harness(fake, make_settings(tmp_path, slack_digest_channel="CDIGEST",
                                    slack_watch_every=600, slack_digest_every=3600),
                SlackAssistant())
    try:
        h.bot.follow.start(h.bot.app.client)
        jobs = {job.id: job for job in h.bot.follow._scheduler.get_jobs()}
        assert set(jobs) == {"watches", "digest"}
        assert jobs["digest"].trigger.interval.total_seconds() == 3600
        fake.wait_for("auth.test")
    finally:
        h.close()
    assert h.bot.follow._scheduler is None  # closing the bot stops its jobs
