"""The ``assistant`` command line: a thin face over :class:`assistant.service.Assistant`.

Each subcommand has one handler ``cmd_<name>(args, assistant) -> int`` (the exit code).
Errors of ours become a one-line message on stderr and exit code 1; bad usage exits 2.
The library never prints; this module does.

The error contract: exactly one line per failure on stderr (``error: <origin>: <reason>``;
the indexer's log record of the same failure is not shown again), every name escaped
(:func:`assistant.errors.one_line`: no newline, control character or ANSI escape reaches
the terminal, log lines included), and no traceback unless ``-v``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from assistant.cli_parser import build_parser
from assistant.config import Settings
from assistant.errors import AssistantError, one_line
from assistant.models import Claim, Filters, StreamEvent, Turn, final_answer
from assistant.service import Assistant

logger = logging.getLogger("assistant")

Handler = Callable[[argparse.Namespace, Assistant], int]


def _filters(args: argparse.Namespace) -> Filters:
    return Filters(
        since=getattr(args, "since", None),
        until=getattr(args, "until", None),
        sources=tuple(getattr(args, "source", None) or ()),
    )


@contextlib.contextmanager
def _progress_bar(desc: str, unit: str, quiet: bool) -> Iterator[Callable[[Any], None]]:
    """A tqdm bar on stderr, fed by the library's progress callbacks (``.done/.total/.current``)."""
    from tqdm import tqdm

    bar = tqdm(total=0, unit=unit, desc=desc, disable=quiet, file=sys.stderr)

    def progress(p: Any) -> None:
        bar.total = p.total
        bar.n = p.done
        bar.set_postfix_str(str(p.current)[-40:], refresh=False)
        bar.refresh()

    try:
        yield progress
    finally:
        bar.close()


# ---- handlers ----------------------------------------------------------------------------
def cmd_ingest(args: argparse.Namespace, assistant: Assistant) -> int:
    with _progress_bar("ingest", "doc", args.quiet) as progress:
        result = assistant.ingest(args.inputs, prune=args.prune, progress=progress)
    for origin, reason in result.failed:
        print(f"error: {one_line(origin)}: {one_line(reason)}", file=sys.stderr)
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


def cmd_feedback_export(args: argparse.Namespace, assistant: Assistant) -> int:
    from assistant.feedback import FeedbackStore

    text = FeedbackStore(assistant.settings.feedback_path).export(args.format)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def cmd_eval(args: argparse.Namespace, assistant: Assistant) -> int:
    from assistant.eval.items import load_items
    from assistant.eval.report import summary_table
    from assistant.eval.run import evaluate, temporary_assistant

    items = load_items(args.file)
    settings = assistant.settings
    if args.backend:  # the claim judge follows settings.backend
        settings = settings.model_copy(update={"backend": args.backend})
    with contextlib.ExitStack() as stack:
        if args.corpus:
            print(f"ingesting {', '.join(args.corpus)} into a temporary index", file=sys.stderr)
            assistant = stack.enter_context(temporary_assistant(settings, args.corpus))
        elif args.backend:
            assistant = assistant.with_backend(args.backend)
        progress = stack.enter_context(_progress_bar("eval", "item", args.quiet))
        report = evaluate(
            assistant, items, backend=args.backend, limit=args.limit, progress=progress,
            use_paraphrase=args.paraphrase,
        )
    report.meta.update(eval_file=str(args.file), corpus=list(args.corpus or []))
    print(summary_table(report))
    if args.out:
        args.out.write_text(json.dumps(report.to_dict(), indent=2, default=str), encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


def cmd_slack(args: argparse.Namespace, assistant: Assistant) -> int:
    from assistant.slack import server as slack

    update: dict[str, object] = {}
    if args.http or args.port:
        update["slack_mode"] = "http"
    if args.port:
        update["slack_port"] = args.port
    if args.backend:
        update["backend"] = args.backend
    settings = assistant.settings.model_copy(update=update) if update else assistant.settings
    if args.backend:
        assistant = assistant.with_backend(args.backend)
    slack.run(settings, assistant)
    return 0


def cmd_check(args: argparse.Namespace, assistant: Assistant) -> int:
    from assistant.verify.factcheck import format_claim_lines, sections

    source = args.text
    path = Path(source)
    if len(source) < 4096 and "\n" not in source and path.is_file():
        text = path.read_text(encoding="utf-8", errors="replace")
    elif source == "-":
        text = sys.stdin.read()
    else:
        text = source
    if args.backend:
        assistant = assistant.with_backend(args.backend)
    report = assistant.check(text, _filters(args))
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
        return 0
    if not report.claims:
        print("no check-worthy sentences found (numbers, names, dates, attributed statements)")
        return 0
    for title, claims in sections(report):
        print(f"{title} ({len(claims)})")
        if not claims:
            print("  (none)")
        for claim in claims:
            for line in format_claim_lines(claim):
                print(f"  {line}")
        print()
    return 0


def _flag(claim: Claim) -> str | None:
    """One line for an answer sentence the sources do not back, else None."""
    if not claim.citations:
        return f"! not cited: {claim.text}"
    verdict = claim.verdict
    if verdict is not None and verdict.label != "supported":
        why = f" ({verdict.reason})" if verdict.reason else ""
        return f"! {verdict.label}: {claim.text}{why}"
    if verdict is not None and not verdict.cited_ok:
        return f"! backed by another source than the one cited: {claim.text}"
    return None


def cmd_ask(args: argparse.Namespace, assistant: Assistant) -> int:
    if args.backend:
        assistant = assistant.with_backend(args.backend)
    history = [Turn("user", q) for q in (args.after or [])]
    live = sys.stdout.isatty() and not args.json
    streamed: list[str] = []

    def show(event: StreamEvent) -> None:
        if event.kind == "status" and not args.json:
            print(f"... {event.text}", file=sys.stderr)
        elif event.kind == "token" and live:
            streamed.append(event.text)
            print(event.text, end="", flush=True)

    answer = final_answer(assistant.ask_stream(args.question, history, _filters(args)), show)
    if args.json:
        print(json.dumps(answer.to_dict(), indent=2, default=str))
        return 0
    if live:
        print()
    if not live or "".join(streamed).strip() != answer.text.strip():
        print(answer.text)
    if answer.as_of_text():
        print(f"as of {answer.as_of_text()} (the newest source used)")
    if answer.notice:
        print(f"note: {answer.notice}")
    for claim in answer.claims:
        flag = _flag(claim)
        if flag:
            print(flag)
    if answer.invalid_citations:
        nums = ", ".join(f"[{n}]" for n in answer.invalid_citations)
        print(f"! removed citation numbers that name no source: {nums}")
    if answer.sources:
        print()
        print("Nearest sources:" if answer.abstained else "Sources:")
    cited = answer.cited_numbers()
    for src in answer.sources:
        if not answer.abstained and cited and src.number not in cited:
            continue
        c = src.chunk
        meta = [c.source or "unknown outlet", c.published.isoformat() if c.published else "undated"]
        if c.section:
            meta.append(f"section \"{c.section}\" ({c.role})")
        print(f"[{src.number}] {c.title} ({', '.join(meta)})" + (f" <{c.url}>" if c.url else ""))
        for cit in answer.citations_for(src.number):
            print(f'    "{cit.quote}"')
    return 0


def cmd_watch(args: argparse.Namespace, assistant: Assistant) -> int:
    from assistant.feeds.report import watch_command

    def err(line: str) -> None:
        print(line, file=sys.stderr)

    return watch_command(assistant, args.feeds, args.every, args.once, print, err)


def cmd_feeds(args: argparse.Namespace, assistant: Assistant) -> int:
    from assistant.feeds.report import feeds_command

    return feeds_command(assistant.settings, args.json, print)


COMMANDS: dict[str, Handler] = {
    "ask": cmd_ask,
    "check": cmd_check,
    "ingest": cmd_ingest,
    "sources": cmd_sources,
    "stats": cmd_stats,
    "feedback-export": cmd_feedback_export,
    "eval": cmd_eval,
    "slack": cmd_slack,
    "watch": cmd_watch,
    "feeds": cmd_feeds,
}


class _LogHandler(logging.StreamHandler):
    """The CLI's stderr log handler (one per process; replaced on each ``main`` call)."""


class _OneLineFormatter(logging.Formatter):
    """Log messages escaped like error lines; a traceback (``-v`` only) keeps its lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        record.message = one_line(record.message)
        return super().formatMessage(record)


def _setup_logging(verbose: bool) -> None:
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _LogHandler)]:
        root.removeHandler(handler)
    if root.handlers:
        return  # logging is configured by whoever runs us (a test runner, an application)
    handler = _LogHandler(sys.stderr)
    handler.setFormatter(_OneLineFormatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    overrides = {"index_dir": args.index} if args.index else {}
    try:
        settings = Settings(**overrides)
        assistant = Assistant(settings)
        return COMMANDS[args.command](args, assistant)
    except AssistantError as exc:
        print(f"error: {one_line(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.verbose:
            raise
        logger.debug("unexpected error", exc_info=True)
        print(f"error: unexpected error: {type(exc).__name__}: {one_line(str(exc))} "
              "(run with -v for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
