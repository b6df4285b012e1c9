"""The ``assistant`` command line: a thin face over :class:`assistant.service.Assistant`.

Each subcommand has one handler ``cmd_<name>(args, assistant) -> int`` (the exit code).
Errors of ours become a one-line message on stderr and exit code 1; bad usage exits 2.
The library never prints; this module does.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from assistant.config import Settings
from assistant.errors import AssistantError
from assistant.models import Filters
from assistant.service import Assistant

logger = logging.getLogger("assistant")

Handler = Callable[[argparse.Namespace, Assistant], int]


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO date (YYYY-MM-DD): {value!r}") from exc


def _filters(args: argparse.Namespace) -> Filters:
    return Filters(
        since=getattr(args, "since", None),
        until=getattr(args, "until", None),
        sources=tuple(getattr(args, "source", None) or ()),
    )


def _add_filter_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--since", type=_date, help="only articles published on/after DATE")
    p.add_argument("--until", type=_date, help="only articles published on/before DATE")
    p.add_argument("--source", action="append", help="only this outlet (repeatable)")


# ---- handlers ----------------------------------------------------------------------------
def cmd_ingest(args: argparse.Namespace, assistant: Assistant) -> int:
    from tqdm import tqdm

    bar = tqdm(total=0, unit="doc", desc="ingest", disable=args.quiet, file=sys.stderr)

    def progress(p) -> None:  # type: ignore[no-untyped-def]
        bar.total = p.total
        bar.n = p.done
        bar.set_postfix_str(p.current[-40:], refresh=False)
        bar.refresh()

    result = assistant.ingest(args.inputs, prune=args.prune, progress=progress)
    bar.close()
    for origin, reason in result.failed:
        print(f"error: {origin}: {reason}", file=sys.stderr)
    print(
        f"added {len(result.added)}, updated {len(result.updated)}, "
        f"unchanged {len(result.unchanged)}, removed {len(result.removed)}, "
        f"failed {len(result.failed)} ({result.chunks_written} chunks written)"
    )
    return 0 if result.ok else 1


def cmd_sources(args: argparse.Namespace, assistant: Assistant) -> int:
    infos = assistant.sources()
    if args.json:
        from dataclasses import asdict

        print(json.dumps([asdict(i) for i in infos], default=str, indent=2))
        return 0
    if not infos:
        print("no articles indexed (run: assistant ingest corpus/)")
        return 0
    for info in infos:
        when = info.published.isoformat() if info.published else "undated   "
        print(f"{when}  {info.chunks:4d} chunks  {info.source or '-':20.20s}  {info.title}")
    return 0


def cmd_stats(args: argparse.Namespace, assistant: Assistant) -> int:
    stats = assistant.stats()
    if args.json:
        print(json.dumps(stats, default=str, indent=2))
    else:
        for key, value in stats.items():
            print(f"{key:>20}: {value}")
    return 0


COMMANDS: dict[str, Handler] = {
    "ingest": cmd_ingest,
    "sources": cmd_sources,
    "stats": cmd_stats,
}


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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    overrides = {"index_dir": args.index} if args.index else {}
    try:
        settings = Settings(**overrides)
        assistant = Assistant(settings)
        return COMMANDS[args.command](args, assistant)
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
