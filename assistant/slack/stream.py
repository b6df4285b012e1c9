"""One answer's way into a Slack thread: streamed when Slack allows it, else a placeholder.

``Reply(client, channel, thread_ts, user=..., team=..., switch=...)`` is made per answer:

* :meth:`Reply.begin` - with streaming off or unavailable, posts the placeholder
  ("Looking through the sources...") that the answer later replaces (the older path);
* :meth:`Reply.status` - the working line: ``assistant.threads.setStatus`` ("Searching the
  sources...", "Checking 3 sentences..."), and the placeholder's text on the older path;
* :meth:`Reply.append` - answer text, streamed with slack_sdk's ``ChatStream``
  (``chat.startStream`` on the first piece, then ``chat.appendStream``) in pieces of at
  least ``chars`` characters or every ``interval`` seconds;
* :meth:`Reply.finish` - ``chat.stopStream`` carrying the blocks that go under the text
  (flags, sources with quotes, feedback) when what was streamed is the final text; when the
  final text differs (the checker withheld the draft, citations were repaired, the text
  was too long to stream), the message is replaced by the full rendering (``chat.update``),
  so a withdrawn sentence never stays on screen;
* :meth:`Reply.fail` - a short message in place of whatever was shown;
* :meth:`Reply.close` - clears the status, always (also after a failure).

Fallback: when ``chat.startStream`` is refused (a plan or workspace without streaming, a
missing scope, an API error), :class:`StreamSwitch` logs it once and sends answers down the
placeholder + ``chat.update`` path for ``retry_after`` seconds; the answer that met the error
continues on that path. ``setStatus`` refused (outside an assistant thread on some plans)
is logged at debug level and not tried again for that answer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web.chat_stream import ChatStream

from assistant.models import Source
from assistant.slack import threads as thread
from assistant.slack.blocks import Block, escape, trim
from assistant.slack.threads import CONTINUED, PLACEHOLDER

logger = logging.getLogger(__name__)

__all__ = ["MAX_STREAM_CHARS", "Reply", "StreamSwitch"]

MAX_STREAM_CHARS = 12000  # longer answers stop streaming; the end shows them paginated
STATUS_INTERVAL = 2.0  # seconds between placeholder edits (chat.update is tier 3)


class StreamSwitch:
    """Whether answers may stream now; a refusal turns streaming off for ``retry_after`` s."""

    def __init__(self, enabled: bool, retry_after: float = 900.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.enabled = enabled
        self.retry_after = retry_after
        self.clock = clock
        self._off_until = 0.0
        self._logged = False
        self._lock = threading.Lock()

    def available(self) -> bool:
        with self._lock:
            return self.enabled and self.clock() >= self._off_until

    def failed(self, error: str) -> None:
        with self._lock:
            self._off_until = self.clock() + self.retry_after
            first, self._logged = not self._logged, True
        log = logger.warning if first else logger.debug
        log("Slack refused to stream an answer (%s); answers use a placeholder edited with "
            "chat.update for the next %.0f s", error, self.retry_after)


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


class Reply:
    """One answer in one thread (module doc). Not thread-safe: one job owns it."""

    def __init__(self, client: WebClient, channel: str, thread_ts: str, *, user: str = "",
                 team: str = "", switch: StreamSwitch | None = None, chars: int = 120,
                 interval: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.client, self.channel, self.thread_ts = client, channel, thread_ts
        self.user, self.team = user, team
        self.switch = switch or StreamSwitch(False)
        self.chars, self.interval, self.clock = max(1, chars), interval, clock
        self.streaming = self.switch.available()
        self.streamer: ChatStream | None = None
        self.placeholder: str | None = None
        self.sent = ""  # what the stream shows (escaped text)
        self.buffer = ""
        self.broken = False  # appending failed after the stream started, or the text was cut
        self._last_flush = clock()
        self._last_status = float("-inf")
        self._status_ok = True
        self._status_shown = False
        self.found = ""  # "Found 4 sources: ..." once retrieval is done (status lines follow it)

    # ---- before the answer ---------------------------------------------------------------
    def begin(self, stream: bool = True) -> None:
        """Start the reply; ``stream=False`` for content that is not streamed (a fact-check)."""
        if not stream:
            self.streaming = False
        if not self.streaming:
            self.placeholder = thread.post(self.client, self.channel, self.thread_ts, PLACEHOLDER)

    def status(self, text: str) -> None:
        """Show ``text`` as the thread's status (after the sources' names once known)."""
        if not text:
            return
        if self.found:
            text = f"{self.found} {text}"
        if self._status_ok:
            try:
                self.client.assistant_threads_setStatus(
                    channel_id=self.channel, thread_ts=self.thread_ts, status=text)
                self._status_shown = True
            except SlackApiError as exc:
                self._status_ok = False
                logger.debug("assistant.threads.setStatus refused: %s",
                             exc.response.get("error"))
        now = self.clock()
        if self.placeholder and now - self._last_status >= STATUS_INTERVAL:
            self._last_status = now
            thread.show_status(self.client, self.channel, self.placeholder, text)

    def sources(self, sources: Sequence[Source]) -> None:
        """The status line names the sources as soon as they are found, before the model
        writes: "Found 4 sources: Title (2026-08-19); ... Reading them..."."""
        if not sources:
            return
        names = "; ".join(
            f"{trim(s.chunk.title or s.chunk.article_id, 60)}"
            + (f" ({s.chunk.published.isoformat()})" if s.chunk.published else "")
            for s in sources[:3]
        )
        more = f" and {len(sources) - 3} more" if len(sources) > 3 else ""
        noun = "source" if len(sources) == 1 else "sources"
        self.found = f"Found {len(sources)} {noun}: {names}{more}."
        self.status("Reading them...")

    # ---- the answer ------------------------------------------------------------------------
    def append(self, text: str) -> None:
        if not self.streaming or not text:
            return  # the older path shows the answer when it is complete
        self.buffer += escape(text)
        if len(self.buffer) >= self.chars or self.clock() - self._last_flush >= self.interval:
            self._flush()

    def _flush(self) -> None:
        if not (self.streaming and self.buffer) or self.broken:
            self.buffer = ""
            return
        piece, self.buffer = self.buffer, ""
        self._last_flush = self.clock()
        if len(self.sent) + len(piece) > MAX_STREAM_CHARS:
            self.broken = True  # the rest would not fit one message: the end paginates it
            return
        if self.streamer is None:
            self.streamer = self.client.chat_stream(
                channel=self.channel, thread_ts=self.thread_ts, buffer_size=1,
                recipient_user_id=self.user or None, recipient_team_id=self.team or None)
        try:
            self.streamer.append(markdown_text=piece)
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "error")
            if self.streamer.ts is None:  # chat.startStream refused: the older path
                self.switch.failed(error)
                self.streaming, self.streamer = False, None
                self.placeholder = thread.post(self.client, self.channel, self.thread_ts,
                                               PLACEHOLDER)
            else:  # the stream broke mid-way (expired): the end replaces the message
                logger.warning("chat.appendStream failed (%s); the answer will replace the "
                               "streamed message", error)
                self.broken = True
            return
        self.sent += piece

    def finish(self, text: str, full: Sequence[tuple[str, list[Block]]],
               tail: Sequence[list[Block]]) -> None:
        """End the answer: ``text`` is its final text, ``full`` its complete messages (text,
        blocks) for the older path, ``tail`` the pages of blocks that go under streamed text."""
        self._flush()
        streamed = self.streamer is not None and self.streamer.ts is not None
        if not streamed:
            thread.deliver(self.client, self.channel, self.thread_ts, self.placeholder, full)
            return
        assert self.streamer is not None
        same = not self.broken and _same(self.sent, escape(text))
        first = list(tail[0]) if tail and same else []
        try:
            self.streamer.stop(blocks=first or None)
        except SlackApiError as exc:
            logger.warning("chat.stopStream failed (%s); replacing the streamed message",
                           exc.response.get("error"))
            same = False
        if same:
            for page in tail[1:]:
                thread.deliver(self.client, self.channel, self.thread_ts, None,
                               [(CONTINUED, list(page))])
            return
        thread.deliver(self.client, self.channel, self.thread_ts, self.streamer.ts, full)

    def deliver(self, messages: Sequence[tuple[str, list[Block]]]) -> None:
        """Content that was not streamed (a fact-check), in place of the placeholder."""
        thread.deliver(self.client, self.channel, self.thread_ts, self.placeholder, messages)

    def fail(self, message: str) -> None:
        """``message`` in place of the streamed text or the placeholder, else posted."""
        shown = self.placeholder
        if self.streamer is not None and self.streamer.ts is not None:
            shown = self.streamer.ts
            try:
                self.streamer.stop()
            except SlackApiError as exc:
                logger.debug("chat.stopStream failed: %s", exc.response.get("error"))
        thread.apologise(self.client, self.channel, self.thread_ts, shown, message)

    def close(self) -> None:
        """Clear the working status (a no-op when none was shown)."""
        if not self._status_shown:
            return
        try:
            self.client.assistant_threads_setStatus(
                channel_id=self.channel, thread_ts=self.thread_ts, status="")
        except SlackApiError as exc:
            logger.debug("clearing the status failed: %s", exc.response.get("error"))
