"""Files in and out of the page: fact-check exports, upload checks, ingest summaries.

Job: write a check report as ``factcheck.csv`` + ``factcheck.json``; decide whether an
uploaded file may be ingested (type, size, not empty) and give it a safe stored name; say
what an ingest did in one line; take server paths out of messages shown on the page (only a
file's name is shown). No gradio import.

Contract: :func:`check_upload` returns the reason a file is refused, or ``""``; a refused
file never reaches the ingest. Compromise: the type check goes by file extension only (the
ingest itself rejects binary content with its own reason).
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from assistant.models import CheckReport, IngestResult
from assistant.ui.render import check_rows

UPLOAD_TYPES: tuple[str, ...] = (
    ".txt", ".md", ".html", ".htm", ".json", ".jsonl", ".xml", ".rss", ".atom"
)

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
# an absolute path of two or more parts (not the path part of a URL)
_ABS_PATH = re.compile(r"""(?<![\w.:/])(?:/[^\s/'"“”<>:]+){2,}/?""")


def write_check_exports(report: CheckReport, folder: Path) -> list[str]:
    """``factcheck.csv`` and ``factcheck.json`` in ``folder``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    csv_path = folder / "factcheck.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["claim", "verdict", "evidence_quote", "article", "date", "reason"])
        for claim, row in zip(report.claims, check_rows(report), strict=True):
            v = claim.verdict
            writer.writerow(
                [row[0], v.label if v else "", row[2], row[3], row[4], v.reason if v else ""]
            )
    json_path = folder / "factcheck.json"
    json_path.write_text(
        json.dumps(report.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8"
    )
    return [str(csv_path), str(json_path)]


def check_upload(path: Path, max_bytes: int) -> str:
    """Why an uploaded file is refused, or ``""`` when it may be ingested."""
    suffix = path.suffix.lower()
    if suffix not in UPLOAD_TYPES:
        kind = f"“{suffix}” files" if suffix else "files without an extension"
        return f"refused: {kind} are not accepted (allowed: {' '.join(UPLOAD_TYPES)})"
    try:
        size = path.stat().st_size
    except OSError:
        return "refused: the upload could not be read"
    if size > max_bytes:
        return (
            f"refused: {size / 1e6:.1f} MB is over the upload limit of "
            f"{max_bytes / 1e6:.1f} MB"
        )
    if size == 0:
        return "refused: the file is empty"
    return ""


def safe_filename(name: str) -> str:
    """A stored name for an upload: ``"new article.md" -> "new_article.md"``."""
    stem = _SAFE_NAME.sub("_", Path(name).name).strip("._") or "upload"
    return stem[:120]


def scrub_paths(message: str, names: dict[str, str]) -> str:
    """``message`` without server paths: each path in ``names`` becomes its shown name, any
    other absolute path its last part. ``scrub_paths("/srv/x/a.md: empty", {})`` ->
    ``"a.md: empty"``."""
    for path, shown in sorted(names.items(), key=lambda item: -len(item[0])):
        message = message.replace(path, shown)
    return _ABS_PATH.sub(lambda m: Path(m.group(0).rstrip("/\\")).name or "…", message)


def result_summary(result: IngestResult) -> str:
    """One line on what an ingest did: added, updated, unchanged, failed, passages."""
    return (
        f"{len(result.added)} added, {len(result.updated)} updated, "
        f"{len(result.unchanged)} unchanged, {len(result.failed)} failed "
        f"({result.chunks_written} passages written)"
    )
