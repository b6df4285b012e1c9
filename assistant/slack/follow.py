"""The Slack side of following the news: the ``watch`` commands, watch updates, digests.

``FollowNews(bot)`` (the bot makes one) handles ``/rare-earth watch <question>``,
``/rare-earth watches`` and ``/rare-earth unwatch <n>``, and runs two jobs on APScheduler
once :meth:`FollowNews.start` is called (``run`` does; tests call the jobs directly):

* :meth:`FollowNews.check_watches` every ``slack_watch_every`` seconds: the watches whose
  answer changed with the library get the new answer in their thread, under a line saying
  what changed (sources added / no longer cited) and the earlier answer;
* :meth:`FollowNews.digest` every ``slack_digest_every`` seconds when
  ``slack_digest_channel`` is set: one message listing the articles indexed since the last
  digest (copies of one story merged, "also distributed by ..."), each with one checked
  sentence and its citation.

State and the rules of change: :mod:`assistant.slack.watches`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from assistant.answer.citations import MARKER_SPACED
from assistant.errors import AssistantError, user_message
from assistant.index.stories import as_copies, copies_line, group_stories
from assistant.models import Answer, ArticleInfo, Claim
from assistant.slack import blocks as kit
from assistant.slack import threads as thread
from assistant.slack.stream import Reply
from assistant.slack.watches import SlackState, Watches, what_changed

if TYPE_CHECKING:
    from assistant.slack.bot import SlackBot

logger = logging.getLogger(__name__)

__all__ = ["VERBS", "FollowNews"]

VERBS = ("watch", "watches", "unwatch")
WATCHING = "is watching:"  # "<@U1> is watching: question" - a watch's parent message
MAX_DIGEST_STORIES = 15


class FollowNews:
    """Watches and digests for one bot (module doc)."""

    def __init__(self, bot: SlackBot) -> None:
        self.bot = bot
        self.settings = bot.settings
        self.state = SlackState(self.settings.index_dir / "slack.sqlite3")
        self.watches = Watches(bot.assistant, self.state)
        self._scheduler: Any = None

    # ---- scheduling ------------------------------------------------------------------------
    def start(self, client: WebClient) -> None:
        """Run the watch check and (with a digest channel) the digest in the background."""
        from apscheduler.schedulers.background import BackgroundScheduler

        if self._scheduler is not None:
            return
        s = self.settings
        scheduler = BackgroundScheduler(timezone=UTC, daemon=True)
        scheduler.add_job(self._quietly(self.check_watches), "interval", args=(client,),
                          seconds=s.slack_watch_every, id="watches", max_instances=1,
                          coalesce=True)
        if s.slack_digest_channel:
            scheduler.add_job(self._quietly(self.digest), "interval", args=(client,),
                              seconds=s.slack_digest_every, id="digest", max_instances=1,
                              coalesce=True, next_run_time=datetime.now(UTC))
        scheduler.start()
        self._scheduler = scheduler

    def stop(self) -> None:
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=False)

    @staticmethod
    def _quietly(job: Callable[[WebClient], int]) -> Callable[[WebClient], None]:
        def run(client: WebClient) -> None:
            try:
                job(client)
            except Exception:  # the job must survive to run again
                logger.exception("Slack job %s failed", job.__name__)
        return run

    # ---- commands --------------------------------------------------------------------------
    def command(self, verb: str, rest: str, command: dict[str, Any], client: WebClient,
                ack: Callable[..., None]) -> None:
        """``watch <question>`` / ``watches`` / ``unwatch <n>`` (the slash command's verbs)."""
        channel = command.get("channel_id") or ""
        user = command.get("user_id") or ""
        name = command.get("command") or self.settings.slack_command
        try:
            if verb == "watches":
                ack(text=self._listing(channel, name))
            elif verb == "unwatch":
                ack(text=self._unwatch(channel, rest, name))
            elif not rest:
                ack(text=f"Usage: `{name} watch <question>`: I answer it now and post again "
                         "in its thread when new articles change the answer.")
            else:
                refused = self.bot.refusal(rest)
                if refused:
                    ack(text=refused)
                    return
                ack()
                parent = client.chat_postMessage(
                    channel=channel, text=f"<@{user}> {WATCHING} {kit.trim(rest, 2900)}")
                self.bot.job_pool.submit(self._start_watch, client, channel, user, rest,
                                         str(parent["ts"]))
        except SlackApiError as exc:
            logger.warning("watch command in %s failed: %s", channel, exc.response.get("error"))
        except AssistantError as exc:
            ack(text=user_message(exc))

    def _listing(self, channel: str, name: str) -> str:
        watches = self.state.watches(channel=channel)
        if not watches:
            return f"Nothing is watched in this channel. `{name} watch <question>` starts one."
        lines = [f"{i}. {w.question} (by <@{w.user}>)" for i, w in enumerate(watches, 1)]
        return "Watched here:\n" + "\n".join(lines) + f"\n`{name} unwatch <n>` stops one."

    def _unwatch(self, channel: str, rest: str, name: str) -> str:
        watches = self.state.watches(channel=channel)
        if not rest.strip().isdigit() or not 1 <= int(rest) <= len(watches):
            return f"Which one? `{name} watches` lists them by number."
        watch = watches[int(rest) - 1]
        self.state.remove_watch(watch.id)
        return f"Stopped watching: {watch.question}"

    def _start_watch(self, client: WebClient, channel: str, user: str, question: str,
                     thread_ts: str) -> None:
        reply = Reply(client, channel, thread_ts)  # not streamed: the answer is stored
        try:
            reply.begin(stream=False)
            library = self.watches.library()
            answer = self.watches.ask(question)
            self._deliver(reply, answer)
            self.state.add_watch(channel, user, question, thread_ts, answer, library)
        except Exception as exc:
            logger.exception("starting a watch failed (channel %s)", channel)
            reply.fail(user_message(exc) if isinstance(exc, AssistantError) else thread.APOLOGY)

    def _deliver(self, reply: Reply, answer: Answer, first_text: str | None = None) -> None:
        key = self.bot.feedback.remember(answer)
        pages = kit.paginate(kit.answer_blocks(answer, key))
        reply.deliver(thread.as_messages(first_text or kit.fallback_text(answer.text), pages))

    # ---- jobs ------------------------------------------------------------------------------
    def check_watches(self, client: WebClient) -> int:
        """Post the changed answers of watched questions in their threads; how many."""
        changed = self.watches.check()
        for watch, answer in changed:
            lines = "\n".join(f"• {kit.escape(line)}" for line in what_changed(watch, answer))
            earlier = kit.trim(" ".join(watch.answer.split()), 600)
            question = kit.escape(watch.question)
            head = (f":newspaper: *New articles change the answer to* “{question}”"
                    f"\n{lines}\n_Earlier:_ {kit.escape(earlier)}")
            thread.post(client, watch.channel, watch.thread_ts, head)
            self._deliver(Reply(client, watch.channel, watch.thread_ts), answer)
        return len(changed)

    def digest(self, client: WebClient) -> int:
        """Post the digest of new articles; returns how many stories it listed."""
        channel = self.settings.slack_digest_channel
        articles = self.bot.assistant.sources()
        reported = self.state.reported()
        if not reported and self.state.get("digest_since") is None:  # the first run
            self.state.mark_reported(articles)
            self.state.put("digest_since", datetime.now(UTC).isoformat())
            logger.info("digest: %d articles already in the library, not reported",
                        len(articles))
            return 0
        new = [a for a in articles if reported.get(a.id) != a.hash]
        if not new:
            return 0
        groups = group_stories(new, getattr(self.bot.assistant, "clusters", None))
        blocks: list[kit.Block] = [kit.section(
            f":newspaper: *{len(groups)} new {'story' if len(groups) == 1 else 'stories'} "
            "in the library*")]
        for group in groups[:MAX_DIGEST_STORIES]:
            blocks.extend(self._story(group))
        if len(groups) > MAX_DIGEST_STORIES:
            blocks.append(kit.context(f"_and {len(groups) - MAX_DIGEST_STORIES} more_"))
        for page in kit.paginate(blocks):
            client.chat_postMessage(channel=channel, text=f"{len(groups)} new stories",
                                    blocks=page, unfurl_links=False, unfurl_media=False)
        self.state.mark_reported(new)
        return len(groups)

    def _story(self, group: list[ArticleInfo]) -> list[kit.Block]:
        first = group[0]
        line = f"*{kit.link(first.url, first.title)}* · {kit.escape(first.source)}"
        if first.published:
            line += f" · {first.published.isoformat()}"
        if len(group) > 1:
            line += f"\n_{kit.escape(copies_line(as_copies(group[1:])))}_"
        return [kit.section(line), kit.context(self._checked_sentence(group))]

    def _checked_sentence(self, group: list[ArticleInfo]) -> str:
        """One sentence about the story, checked, with its citation (or why there is none)."""
        ids = {a.id for a in group}
        try:
            answer = self.watches.ask(f"What does “{group[0].title}” report?")
        except Exception:
            logger.exception("digest: no sentence for %s", group[0].id)
            return "_(no checked sentence: the assistant failed on this article)_"
        best: tuple[int, Claim, int] | None = None
        for claim in answer.claims:
            for n in claim.citations:
                src = answer.source(n)
                if src is None or src.chunk.article_id not in ids:
                    continue
                label = claim.verdict.label if claim.verdict else "unchecked"
                rank = {"supported": 0, "unchecked": 1, "unsupported": 2}.get(label, 3)
                if best is None or rank < best[0]:
                    best = (rank, claim, n)
        if best is None:
            return "_(no sentence about this article could be checked)_"
        _, claim, n = best
        src = answer.source(n)
        label = claim.verdict.label if claim.verdict else ""
        icon = kit.ICONS.get(label, ":grey_question:")
        text = " ".join(MARKER_SPACED.sub(" ", claim.text).split())
        cite = kit.link(src.chunk.url, src.chunk.title) if src else ""
        return (f"{icon} {kit.escape(text)} [{cite}] "
                f"_({kit.LABEL_TEXT.get(label, 'not checked')})_")
