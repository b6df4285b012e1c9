"""Time in a question: a named period -> a date range, "the latest" -> a recency preference.

``resolve(question, newest) -> TimeFrame(since, until, prefer_recent, why)`` is pure. Every
relative phrase is read against ``newest``, the publication date of the newest article in
the index (``Manifest.newest_published()``), never the wall clock, so the same index gives
the same reading on any day. Examples with ``newest = 2026-08-19``:

- "What is the latest on ...", "currently", "as it stands", "most recent", "still"
  -> no range, ``prefer_recent``
- "this year" / "so far this year" / "year to date" -> 2026-01-01 .. 2026-08-19
- "last year" -> 2025-01-01 .. 2026-04-02 (the year, plus ``REPORT_LAG`` for its reports);
  "last month" -> 2026-07-01 .. (no end: the lag reaches past the newest article)
- "since March" -> 2026-03-01 ..; "since March 2025" -> 2025-03-01 ..
- "in Q3 2025" / "third quarter of 2025" -> 2025-07-01 .. 2025-12-31; "in 2024" -> the year
  (each plus ``REPORT_LAG``)
- "over the past six months" -> 2026-02-19 .. 2026-08-19
- "as of March 2025" -> .. 2025-03-31, ``prefer_recent``

A year after ``newest``'s year, or a period in a forward-looking question ("will", "expected
in 2025", "by 2026"), is a target date, not a publication period: no range. A range only
narrows the caller's filters (:meth:`TimeFrame.narrow`); the chain falls back to no range
with a recency preference when the range leaves no relevant passage.

Compromises: English only; a period in a question is when things *happened*, the index
knows when they were *published*: a closed period's range runs ``REPORT_LAG`` (a quarter)
past its end, so a review published later than that is outside it (the fallback helps only
when nothing relevant is left); "few" months reads as 3, "several" as 4.
"""

from __future__ import annotations

import calendar
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from assistant.models import Claim, Filters, Source

logger = logging.getLogger(__name__)

__all__ = ["TimeFrame", "as_of", "newest_date", "resolve"]


@dataclass(frozen=True)
class TimeFrame:
    """A question's time reading: an inclusive publication range and/or a recency preference."""

    since: date | None = None
    until: date | None = None
    prefer_recent: bool = False
    why: str = ""

    @property
    def has_range(self) -> bool:
        return self.since is not None or self.until is not None

    def narrow(self, filters: Filters) -> Filters | None:
        """``filters`` narrowed by this range (never widened); ``None`` when the two do not
        overlap (the caller's filters then stand alone)."""
        since = max((d for d in (filters.since, self.since) if d), default=None)
        until = min((d for d in (filters.until, self.until) if d), default=None)
        if since and until and since > until:
            return None
        return replace(filters, since=since, until=until)


#: News of a closed period ("in Q3 2025", "last year") is published in it or up to this long
#: after it (results, reviews): the period's range ends this much after the period. Without
#: it, "in Q3 2025" misses Q3 results published in November (a hard range cost answers on the
#: news eval).
REPORT_LAG = timedelta(days=92)
_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
_MONTHS.update({m.lower(): i for i, m in enumerate(calendar.month_abbr) if m})
_MONTHS["sept"] = 9
_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_YEAR = r"(?P<year>(?:19|20)\d\d)"
_NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "eighteen": 18, "few": 3, "several": 4, "couple of": 2,
}
_COUNT = r"(?P<count>\d{1,3}|" + "|".join(sorted(_NUMBERS, key=len, reverse=True)) + r")"
_ORDINAL = {"first": 1, "second": 2, "third": 3, "fourth": 4, "1st": 1, "2nd": 2, "3rd": 3,
            "4th": 4}

_RECENT = re.compile(
    r"\b(latest|most recent(ly)?|newest|current(ly)?|at present|presently|right now|"
    r"(as of|by|until|up to) (now|today|the latest)|as (it|things) stands?|now|nowadays|"
    r"these days|to date|so far|still|recent(ly)?|up[- ]to[- ]date|(last|latest) update)\b",
    re.IGNORECASE,
)
_FORWARD = re.compile(
    r"\b(will|would|shall|going to|expect(s|ed)?|forecast|projected|plan(s|ned)?|target(s|ed)?|"
    r"scheduled|aim(s|ed)?|anticipated|due (in|by)|by (the end of )?(?:\w+ )?(19|20)\d\d)\b",
    re.IGNORECASE,
)
_IN = r"(?:in|during|throughout|over|for)\s+(?:the\s+(?:year|month|course)\s+(?:of\s+)?)?"
_QUARTER = re.compile(
    r"\b(?:(?P<prep>in|during|since|before|after|as of)\s+)?(?:the\s+)?"
    r"(?:q(?P<q>[1-4])|(?P<ord>first|second|third|fourth|1st|2nd|3rd|4th)\s+quarter)"
    r"(?:\s+(?:of\s+)?" + _YEAR + r")?\b",
    re.IGNORECASE,
)
_HALF = re.compile(
    r"\b(?:(?P<prep>in|during|since|before|after|as of)\s+)?(?:the\s+)?"
    r"(?:h(?P<h>[12])|(?P<ord>first|second)\s+half)(?:\s+(?:of\s+)?" + _YEAR + r")?\b",
    re.IGNORECASE,
)
_MONTH_PERIOD = re.compile(
    r"\b(?P<prep>in|during|since|before|after|as of|from)\s+(?:early\s+|late\s+|mid-?)?"
    + _MONTH + r"(?:\s+(?:of\s+)?" + _YEAR + r")?\b",
    re.IGNORECASE,
)
_YEAR_PERIOD = re.compile(
    r"\b(?P<prep>in|during|throughout|since|before|after|as of|from)\s+(?:early\s+|late\s+|"
    r"mid-?|the\s+year\s+)?" + _YEAR + r"\b(?!\s*(?:-|–|to\b|dollars\b))",
    re.IGNORECASE,
)
_BETWEEN_YEARS = re.compile(
    r"\b(?:between|from)\s+(?P<a>(?:19|20)\d\d)\s+(?:and|to|-|–)\s+(?P<b>(?:19|20)\d\d)\b",
    re.IGNORECASE,
)
_PAST = re.compile(
    r"\b(?:in|over|during|within|for)?\s*(?:the\s+)?(?:past|last|previous|preceding)\s+"
    + _COUNT + r"\s*(?P<unit>days?|weeks?|months?|years?|quarters?)\b",
    re.IGNORECASE,
)
_NAMED = re.compile(
    r"\b(?P<which>this|last|previous|past|earlier this|so far this|since last|since the start "
    r"of (?:the|this)|since the beginning of (?:the|this))\s+(?P<unit>year|month|quarter|week)\b"
    r"|\b(?P<ytd>year[- ]to[- ]date|ytd)\b",
    re.IGNORECASE,
)


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _last_start(newest: date, month: int) -> int:
    """The year of the latest ``month`` that started on or before ``newest``."""
    return newest.year if month <= newest.month else newest.year - 1


def _count(text: str | None) -> int:
    if not text:
        return 1
    text = text.lower()
    return int(text) if text.isdigit() else _NUMBERS.get(text, 1)


def _shift_months(d: date, months: int) -> date:
    m = d.year * 12 + d.month - 1 - months
    y, m = divmod(m, 12)
    return date(y, m + 1, min(d.day, calendar.monthrange(y, m + 1)[1]))


def _apply(prep: str, start: date, end: date, newest: date | None) -> TimeFrame:
    """A period with its preposition: "in" -> [start, end], "since"/"from" -> [start, ...],
    "before" -> [..., start - 1], "after" -> [end + 1, ...], "as of" -> [..., end] + recent."""
    prep = (prep or "in").lower()
    if prep in ("since", "from"):
        return TimeFrame(since=start, why=f"since {start.isoformat()}")
    if prep == "before":
        return TimeFrame(until=start - timedelta(days=1), why=f"before {start.isoformat()}")
    if prep == "after":
        return TimeFrame(since=end + timedelta(days=1), why=f"after {end.isoformat()}")
    if prep == "as of":
        return TimeFrame(until=end, prefer_recent=True, why=f"as of {end.isoformat()}")
    return _closed(start, end, newest)


def _closed(start: date, end: date, newest: date | None, label: str = "") -> TimeFrame:
    """A closed period: what happened in it is published in it or up to ``REPORT_LAG``
    after it (quarterly results, year-end reviews), so the range ends that much later."""
    until: date | None = end + REPORT_LAG
    if newest is not None and until is not None and until >= newest:
        until = None
    why = f"{label}{start.isoformat()} to {end.isoformat()} (+ reports up to {until or 'now'})"
    return TimeFrame(since=start, until=until, why=why)


def _explicit(question: str, newest: date | None) -> TimeFrame | None:
    """Quarters, halves, months and years named in the question (first match wins)."""
    m = _BETWEEN_YEARS.search(question)
    if m:
        a, b = sorted((int(m["a"]), int(m["b"])))
        return _closed(date(a, 1, 1), date(b, 12, 31), newest)
    for pattern, months in ((_QUARTER, 3), (_HALF, 6)):
        m = pattern.search(question)
        if not m:
            continue
        index = int(m["q"] if months == 3 and m["q"] else m["h"] if months == 6 and m["h"]
                    else _ORDINAL[m["ord"].lower()])
        first = (index - 1) * months + 1
        if m["year"]:
            year = int(m["year"])
        elif newest is not None:
            year = _last_start(newest, first)
        else:
            continue
        prep = m["prep"] or "in"
        return _apply(prep, date(year, first, 1), _month_end(year, first + months - 1), newest)
    m = _MONTH_PERIOD.search(question)
    if m and not (m["month"].lower() == "may" and not m["year"]):  # "in may" is too ambiguous
        month = _MONTHS[m["month"].lower().rstrip(".")]
        if m["year"]:
            year = int(m["year"])
        elif newest is not None:
            year = _last_start(newest, month)
        else:
            year = 0
        if year:
            return _apply(m["prep"], date(year, month, 1), _month_end(year, month), newest)
    m = _YEAR_PERIOD.search(question)
    if m:
        year = int(m["year"])
        return _apply(m["prep"], date(year, 1, 1), date(year, 12, 31), newest)
    return None


def _relative(question: str, newest: date) -> TimeFrame | None:
    """"Past six months", "last year", "this quarter", "year to date" against ``newest``."""
    m = _PAST.search(question)
    if m:
        n, unit = _count(m["count"]), m["unit"].lower().rstrip("s")
        if unit == "day":
            since = newest - timedelta(days=n - 1)
        elif unit == "week":
            since = newest - timedelta(weeks=n) + timedelta(days=1)
        else:
            since = _shift_months(newest, n * {"month": 1, "quarter": 3, "year": 12}[unit])
            since += timedelta(days=1)
        return TimeFrame(since=since, until=newest, prefer_recent=False,
                         why=f"the past {n} {unit}(s) to {newest.isoformat()}")
    m = _NAMED.search(question)
    if not m:
        return None
    if m["ytd"]:
        which, unit = "this", "year"
    else:
        which, unit = m["which"].lower(), m["unit"].lower()
    if which.startswith("since last"):
        frame = _named("last", unit, newest)
        return TimeFrame(since=frame.since, until=newest, why=f"since {frame.since}")
    if which in ("last", "previous"):
        frame = _named("last", unit, newest)
    elif which == "past":  # "the past year": a rolling window
        return _relative(f"past 1 {unit}", newest)
    else:
        frame = _named("this", unit, newest)
    return frame


def _named(which: str, unit: str, newest: date) -> TimeFrame:
    if unit == "week":
        start = newest - timedelta(days=newest.weekday())
        if which == "last":
            return _closed(start - timedelta(weeks=1), start - timedelta(days=1), newest,
                           "last week: ")
        return TimeFrame(since=start, until=newest, why="this week")
    months = {"year": 12, "quarter": 3, "month": 1}[unit]
    first = (newest.month - 1) // months * months + 1
    start = date(newest.year, first, 1)
    if which == "last":
        end = start - timedelta(days=1)
        start = _shift_months(start, months)
        return _closed(start, end, newest, f"last {unit}: ")
    return TimeFrame(since=start, until=newest, why=f"this {unit}: {start} to {newest}")


def resolve(question: str, newest: date | None) -> TimeFrame:
    """The time reading of ``question`` against the newest article's date (see the module)."""
    recent = bool(_RECENT.search(question))
    forward = bool(_FORWARD.search(question))
    frame = None if forward else _explicit(question, newest)
    if frame is not None and newest is not None and frame.since and frame.since > newest:
        frame = None  # a period after the newest article: a target, not a publication date
    if frame is None and newest is not None and not forward:
        frame = _relative(question, newest)
    if frame is None:
        return TimeFrame(prefer_recent=recent, why="asks for the latest state" if recent else "")
    if recent and not frame.prefer_recent:
        frame = replace(frame, prefer_recent=True, why=frame.why + "; the latest state")
    return frame


def as_of(claims: Sequence[Claim], sources: Sequence[Source]) -> date | None:
    """The newest publication date among the sources the claims cite (all the sources when
    none is cited); ``None`` when none is dated."""
    cited = {n for c in claims for n in c.citations}
    used = [s for s in sources if s.number in cited] or list(sources)
    return max((s.chunk.published for s in used if s.chunk.published), default=None)


def newest_date(manifest: Any) -> date | None:
    """``manifest.newest_published()`` (:class:`assistant.index.manifest.Manifest`); ``None``
    without a manifest or when it cannot be read (relative periods are then not read)."""
    newest = getattr(manifest, "newest_published", None)
    if newest is None:
        return None
    try:
        value = newest()
    except Exception as exc:  # noqa: BLE001 - a reading of time is optional
        logger.warning("newest article date unavailable: %s", exc)
        return None
    return value if isinstance(value, date) else None
