"""The ``assistant`` command's arguments: ``build_parser()`` (the handlers are in :mod:`.cli`)."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO date (YYYY-MM-DD): {value!r}") from exc


def _every(value: str) -> float:
    from assistant.feeds.report import parse_every

    try:
        return parse_every(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _add_filter_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--since", type=_date, help="only articles published on/after DATE")
    p.add_argument("--until", type=_date, help="only articles published on/before DATE")
    p.add_argument("--source", action="append", help="only this outlet (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assistant", description="Rare-earth news assistant: cited, checked answers."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--index", type=Path, help="index folder (default: index/)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="add files, folders, URLs or RSS/Atom feeds")
    p.add_argument("inputs", nargs="+", metavar="PATH|URL|FEED")
    p.add_argument("--prune", action="store_true", help="remove articles whose files are gone")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("sources", help="list indexed articles")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("stats", help="index statistics")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("feedback-export", help="ratings given on the page and in Slack")
    p.add_argument("--format", choices=("csv", "json"), default="csv")
    p.add_argument("-o", "--output", type=Path, help="write to FILE instead of stdout")

    p = sub.add_parser("eval", help="score the assistant on an evaluation JSONL file")
    p.add_argument("file", type=Path, metavar="EVAL.jsonl")
    p.add_argument(
        "--corpus", action="extend", nargs="+", metavar="DIR",
        help="ingest these into a fresh temporary index first (repeatable); index/ is untouched",
    )
    p.add_argument("--backend", choices=("local", "openai", "extractive"))
    p.add_argument("--limit", type=int, help="first N questions and first N claims")
    p.add_argument(
        "--paraphrase", action="store_true",
        help="ask each question's paraphrase instead (items without one ask the question)",
    )
    p.add_argument("--out", type=Path, help="write the JSON report (per-item results) here")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("ask", help="ask a question; the answer cites its sources [n]")
    p.add_argument("question")
    p.add_argument("--backend", choices=("local", "openai", "extractive"))
    p.add_argument("--json", action="store_true", help="print the Answer as JSON")
    p.add_argument(
        "--after", action="append", metavar="QUESTION",
        help="an earlier question of the conversation (repeatable), for follow-ups",
    )
    _add_filter_args(p)

    p = sub.add_parser("check", help="fact-check a text or a file against the corpus")
    p.add_argument("text", metavar='"TEXT"|FILE|-', help="the text, a file path, or - for stdin")
    p.add_argument("--json", action="store_true", help="print the CheckReport as JSON")
    p.add_argument("--backend", choices=("local", "openai", "extractive"),
                   help="judge backend (extractive: no LLM, cheap checks only)")
    _add_filter_args(p)

    p = sub.add_parser("watch", help="poll RSS/Atom feeds (or pages) and ingest what is new")
    p.add_argument("feeds", nargs="*", metavar="FEED_OR_URL",
                   help="URLs to watch (default: ASSISTANT_FEEDS)")
    p.add_argument("--every", type=_every, metavar="DURATION",
                   help="poll each feed this often: 90s, 30m, 2h (default: 30m, or "
                   "ASSISTANT_FEED_INTERVAL seconds)")
    p.add_argument("--once", action="store_true", help="poll every feed once, then exit")

    p = sub.add_parser("feeds", help="watched feeds: last success, last error, entries seen")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("slack", help="run the Slack bot (Socket Mode; --http for Events API)")
    p.add_argument("--http", action="store_true", help="HTTP mode (needs SLACK_SIGNING_SECRET)")
    p.add_argument("--port", type=int, help="HTTP mode port (default: settings.slack_port)")
    p.add_argument("--backend", choices=("local", "openai", "extractive"))
    return parser
