"""The page's library tab: the article list, the header, uploads and fetches by URL.

Job: the handlers behind the library tab, as :class:`LibraryHandlers`, which
:class:`assistant.ui.page.Page` takes on (``page.upload``, ``page.fetch``, ``page.library``,
``page.header``). Uploads are checked (:func:`assistant.ui.exports.check_upload`), copied to
``index/uploads/`` under a safe name, ingested, and reported file by file.

Contract: a refused or failed file gets one line naming only the file (never a server
path); nothing already indexed is lost when an upload fails; errors are logged, never
shown as a trace.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from assistant.config import Settings
from assistant.errors import user_message
from assistant.models import ArticleInfo, IngestProgress, IngestResult
from assistant.service import Assistant
from assistant.ui.exports import check_upload, result_summary, safe_filename, scrub_paths
from assistant.ui.render import error_html, esc, library_rows

logger = logging.getLogger(__name__)

BACKEND_LABELS = {
    "local": "local model (Qwen2.5 1.5B on this machine)",
    "openai": "OpenAI-compatible endpoint",
    "extractive": "extractive (quotes the best passages, no LLM)",
}


class LibraryHandlers:
    """The library tab's handlers; needs ``assistant``, ``settings`` and ``uploads_dir``."""

    assistant: Assistant
    settings: Settings
    uploads_dir: Path

    # -- library ------------------------------------------------------------------------------
    def articles(self) -> list[ArticleInfo]:
        try:
            return list(self.assistant.sources())
        except Exception:  # noqa: BLE001 - the edge: an empty list, and the log says why
            logger.exception("listing the library failed")
            return []

    def library(self) -> list[list[Any]]:
        return library_rows(self.articles())

    def outlets(self, infos: Sequence[ArticleInfo] | None = None) -> list[str]:
        infos = self.articles() if infos is None else infos
        return sorted({i.source for i in infos if i.source})

    def header(self, infos: Sequence[ArticleInfo] | None = None) -> str:
        infos = self.articles() if infos is None else infos
        chunks = sum(i.chunks for i in infos)
        backend = BACKEND_LABELS.get(self.settings.backend, self.settings.backend)
        return (
            '<div class="hdr"><div class="hdr-title">Rare-earth news assistant</div>'
            '<div class="hdr-sub">Answers only from the collected articles; every sentence '
            "cited and checked.</div>"
            f'<div class="hdr-stats"><span class="pill">{len(infos)} articles</span>'
            f'<span class="pill">{chunks} passages</span>'
            f'<span class="pill backend">answers: {esc(backend)}</span></div></div>'
        )

    def _ingest(self, inputs: list[str], progress: Any) -> tuple[IngestResult | None, str]:
        def report(p: IngestProgress) -> None:
            if progress is not None and p.total:
                progress((p.done, p.total), desc=f"Indexing {Path(p.current).name or '…'}")

        try:
            return self.assistant.ingest(inputs, progress=report), ""
        except Exception as exc:  # noqa: BLE001 - the edge
            logger.exception("ingest of %s failed", inputs)
            return None, user_message(exc)

    def _library_outputs(self, report_html: str) -> tuple[str, list[list[Any]], Any, str]:
        infos = self.articles()
        return (
            report_html,
            library_rows(infos),
            gr.update(choices=self.outlets(infos)),
            self.header(infos),
        )

    def upload(
        self, files: Sequence[Any] | None, progress: Any = None
    ) -> tuple[str, list[list[Any]], Any, str]:
        """Validate, copy to ``index/uploads/`` and ingest uploaded files; per-file report."""
        paths = [Path(getattr(f, "name", f)) for f in (files or [])]
        if not paths:
            return self._library_outputs('<div class="fb">Choose one or more files first.</div>')
        lines: list[str] = []
        accepted: dict[str, tuple[str, Path]] = {}  # stored path -> (shown name, stored path)
        for path in paths:
            shown = path.name
            problem = check_upload(path, self.settings.upload_max_bytes)
            if problem:
                logger.info("upload %s %s", shown, problem)
                lines.append(f'<li class="bad">✗ <b>{esc(shown)}</b>: {esc(problem)}</li>')
                continue
            try:
                self.uploads_dir.mkdir(parents=True, exist_ok=True)
                target = self.uploads_dir / safe_filename(shown)
                shutil.copyfile(path, target)
            except OSError as exc:
                logger.exception("storing upload %s failed", shown)
                why = scrub_paths(str(exc.strerror or exc), {str(path): shown})
                lines.append(
                    f'<li class="bad">✗ <b>{esc(shown)}</b>: could not be stored '
                    f"({esc(why)})</li>"
                )
                continue
            accepted[str(target.resolve())] = (shown, target)
        if accepted:
            result, error = self._ingest([str(t) for _, t in accepted.values()], progress)
            names = {key: shown for key, (shown, _) in accepted.items()}
            names.update({str(t): shown for shown, t in accepted.values()})
            error = scrub_paths(error, names)
            if result is None:
                for shown, target in accepted.values():
                    target.unlink(missing_ok=True)
                    lines.append(f'<li class="bad">✗ <b>{esc(shown)}</b>: {esc(error)}</li>')
            else:
                failed = {
                    (o if "://" in o else str(Path(o).resolve())): r for o, r in result.failed
                }
                for key, (shown, target) in accepted.items():
                    reason = failed.get(key) or next(
                        (r for o, r in result.failed if Path(o).name == target.name), None
                    )
                    if reason:
                        target.unlink(missing_ok=True)
                        shown_reason = scrub_paths(reason, names)
                        lines.append(
                            f'<li class="bad">✗ <b>{esc(shown)}</b>: {esc(shown_reason)}</li>'
                        )
                    else:
                        lines.append(f'<li class="good">✓ <b>{esc(shown)}</b>: indexed</li>')
                lines.append(f'<li class="sum">{esc(result_summary(result))}</li>')
        return self._library_outputs(f'<ul class="ingest-report">{"".join(lines)}</ul>')

    def fetch(self, url: str, progress: Any = None) -> tuple[str, list[list[Any]], Any, str]:
        """Ingest a web page or an RSS/Atom feed by URL."""
        url = (url or "").strip()
        if not url.lower().startswith(("http://", "https://")):
            return self._library_outputs(
                error_html("Enter a web address starting with http:// or https://")
            )
        result, error = self._ingest([url], progress)
        if result is None:
            return self._library_outputs(error_html(scrub_paths(error, {})))
        lines = [
            f'<li class="bad">✗ <b>{esc(o)}</b>: {esc(scrub_paths(r, {}))}</li>'
            for o, r in result.failed
        ]
        lines.append(f'<li class="sum">{esc(result_summary(result))}</li>')
        return self._library_outputs(f'<ul class="ingest-report">{"".join(lines)}</ul>')
