"""Feed watching: :class:`FeedWatcher` polls feeds and pages on a schedule and ingests only
what is new or changed; :mod:`.state` keeps per-feed state in the index folder; :mod:`.report`
shapes it for ``assistant watch`` / ``assistant feeds``."""

from assistant.feeds.state import FeedState, FeedStates
from assistant.feeds.watch import FeedWatcher, PollReport

__all__ = ["FeedState", "FeedStates", "FeedWatcher", "PollReport"]
