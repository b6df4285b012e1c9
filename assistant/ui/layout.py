"""The page's layout: the ``gr.Blocks`` of the chat, fact-check and library tabs, and launch.

Job: build the Blocks and wire each control to a :class:`~assistant.ui.page.Page` handler
(the HTTP API names ``/chat``, ``/ask``, ``/check``, ``/upload``, ``/fetch``, ``/library``,
``/comment`` are part of the contract), then serve them with the queue limited to
``settings.concurrency`` workers per event.

Contract: loopback by default, never a share link, no server-side rendering, no error
details sent to the browser; both ``ASSISTANT_AUTH_USER`` and ``ASSISTANT_AUTH_PASSWORD`` or
neither; sign-in attempts throttled per user and address
(:class:`~assistant.ui.guard.LoginGuard`); the answer writers offered are those a page client
may pick (:func:`~assistant.ui.guard.page_backends`). Compromise: system fonts only (the
default theme pulls web fonts from Google, and
the page must not make outbound requests); the styles live in ``style.css`` next to this
module, read when the launch arguments are built.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import gradio as gr
from starlette.middleware import Middleware

from assistant.config import Settings, reveal
from assistant.errors import ConfigError
from assistant.feedback import FeedbackStore
from assistant.service import Assistant
from assistant.ui.exports import UPLOAD_TYPES
from assistant.ui.guard import ClientAddress, LoginGuard, page_backends
from assistant.ui.page import BACKEND_LABELS, Conversation, Page
from assistant.ui.render import LEGEND, esc, library_rows, render_sources
from assistant.ui.whatsnew import whats_new

LIBRARY_HEADERS = ["Title", "Outlet", "Date", "Chunks"]
CHECK_HEADERS = ["Claim", "Verdict", "Evidence quote", "Article", "Date"]


def css() -> str:
    """The page's styles (``assistant/ui/style.css``, shipped as package data)."""
    return resources.files("assistant.ui").joinpath("style.css").read_text(encoding="utf-8")


def _theme() -> Any:
    # System fonts only: the default theme pulls web fonts from Google, and the page must not
    # make outbound requests.
    return gr.themes.Default(
        primary_hue="teal",
        font=["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "Consolas", "monospace"],
    )


def build_app(assistant: Assistant, feedback: FeedbackStore | None = None) -> gr.Blocks:
    """The page's Blocks, wired to ``assistant``. Launch it with :func:`launch`."""
    page = Page(assistant, feedback)
    settings = page.settings
    infos = page.articles()
    backends = list(page_backends(settings))  # a request for any other gets the default

    with gr.Blocks(title="Rare-earth news assistant", analytics_enabled=False) as app:
        conv = gr.State(Conversation())
        header = gr.HTML(page.header(infos))
        with gr.Tabs():
            # ---- chat ----
            with gr.Tab("Chat", id="chat-tab"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=420):
                        gr.HTML(LEGEND)
                        chatbot = gr.Chatbot(
                            elem_id="chat",
                            label="Conversation",
                            show_label=False,
                            height=560,
                            latex_delimiters=[],
                            feedback_options=("Like", "Dislike"),
                            placeholder=(
                                "<b>Ask about the collected rare-earth news.</b><br>"
                                "For example: <i>How large is the planned NdFeB magnet plant "
                                "in Pahang?</i>"
                            ),
                            buttons=["copy"],
                        )
                        with gr.Row():
                            question = gr.Textbox(
                                elem_id="question",
                                show_label=False,
                                placeholder="Ask a question, or a follow-up…",
                                lines=1,
                                max_lines=4,
                                scale=6,
                                autofocus=True,
                            )
                            send = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
                            clear = gr.Button("New chat", scale=1, elem_id="new-chat")
                        with gr.Row():
                            comment = gr.Textbox(
                                elem_id="fb-comment",
                                show_label=False,
                                placeholder="Optional comment on the answer you rated (thumbs "
                                "under it)",
                                scale=6,
                            )
                            send_comment = gr.Button("Send comment", scale=1, elem_id="fb-send")
                        fb_status = gr.HTML(elem_id="fb-status")
                    with gr.Column(scale=2, min_width=320):
                        with gr.Accordion("Filters and answer writer", open=False):
                            with gr.Row():
                                since = gr.DateTime(
                                    label="From", include_time=False, type="string"
                                )
                                until = gr.DateTime(
                                    label="To", include_time=False, type="string"
                                )
                            outlets = gr.Dropdown(
                                choices=page.outlets(infos),
                                multiselect=True,
                                label="Only these outlets",
                                info="Leave empty for every outlet.",
                            )
                            backend = gr.Dropdown(
                                choices=[(BACKEND_LABELS.get(b, b), b) for b in backends],
                                value=settings.backend,
                                label="Answer writer",
                            )
                        sources_panel = gr.HTML(
                            render_sources([]), elem_id="sources-panel", label="Sources"
                        )

            # ---- fact-check ----
            with gr.Tab("Fact-check", id="check-tab"):
                gr.Markdown(
                    "Paste a text (a press release, a post, a draft). Each check-worthy "
                    "sentence is checked against the collected articles."
                )
                check_text = gr.Textbox(
                    lines=7, label="Text to check", elem_id="check-text",
                    placeholder="e.g. Lynas and JS Link plan a 5,000-tonne magnet plant in "
                    "Pahang.",
                )
                check_btn = gr.Button("Check claims", variant="primary", elem_id="check-btn")
                check_summary = gr.HTML()
                check_table = gr.Dataframe(
                    headers=CHECK_HEADERS,
                    datatype=["str"] * 5,
                    interactive=False,
                    wrap=True,
                    elem_id="check-table",
                    column_widths=["30%", "14%", "32%", "16%", "8%"],
                )
                check_files = gr.File(label="Export (CSV, JSON)", file_count="multiple")

            # ---- what's new ----
            with gr.Tab("What's new", id="news-tab"):
                news = gr.HTML(elem_id="whats-new-view")
                news_refresh = gr.Button("Refresh", size="sm", elem_id="news-refresh")

            # ---- library ----
            with gr.Tab("Library", id="library-tab"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3):
                        library = gr.Dataframe(
                            value=library_rows(infos),
                            headers=LIBRARY_HEADERS,
                            datatype=["str", "str", "str", "number"],
                            interactive=False,
                            wrap=True,
                            elem_id="library-table",
                            label="Indexed articles",
                        )
                        refresh = gr.Button("Refresh list", size="sm")
                    with gr.Column(scale=2):
                        uploads = gr.File(
                            label="Add files", file_count="multiple", elem_id="upload"
                        )
                        gr.HTML(
                            '<div class="hint">Accepted: '
                            f"{esc(' '.join(UPLOAD_TYPES))}; up to "
                            f"{settings.upload_max_bytes / 1e6:.0f} MB per file. JSON/JSONL "
                            "records: {id, title, text, url?, published?, source?}.</div>"
                        )
                        upload_btn = gr.Button("Add to library", variant="primary",
                                               elem_id="upload-btn")
                        url = gr.Textbox(
                            label="Or a web page / RSS or Atom feed",
                            placeholder="https://…",
                            elem_id="url",
                        )
                        fetch_btn = gr.Button("Fetch and add", elem_id="fetch-btn")
                        ingest_report = gr.HTML(elem_id="ingest-report")

        # ---- wiring ----
        def show_news() -> str:
            return whats_new(assistant)

        news_refresh.click(show_news, outputs=[news], api_name="whats_new")
        app.load(show_news, outputs=[news], api_visibility="private")
        chat_io = dict(
            inputs=[question, conv, since, until, outlets, backend],
            outputs=[chatbot, sources_panel, conv, question],
        )
        send.click(page.chat, api_name="chat", **chat_io)  # type: ignore[arg-type]
        question.submit(
            page.chat, api_visibility="private", **chat_io  # type: ignore[arg-type]
        )
        clear.click(
            page.clear, outputs=[chatbot, sources_panel, conv, question],
            api_visibility="private",
        )

        def on_like(state: Conversation, text: str, data: gr.LikeData) -> tuple[str, Conversation]:
            return page.rate(state, text, data.index, data.liked)

        chatbot.like(
            on_like, inputs=[conv, comment], outputs=[fb_status, conv], api_visibility="private"
        )
        send_comment.click(
            page.comment, inputs=[conv, comment], outputs=[fb_status, conv, comment],
            api_name="comment",
        )
        check_btn.click(
            page.check_stream, inputs=[check_text],
            outputs=[check_table, check_summary, check_files], api_name="check",
        )
        lib_out = [ingest_report, library, outlets, header]

        def on_upload(
            files: list[str] | None, progress: gr.Progress = gr.Progress()  # noqa: B008
        ) -> Any:
            return (*page.upload(files, progress), None)  # None clears the upload box

        def on_fetch(link: str, progress: gr.Progress = gr.Progress()) -> Any:  # noqa: B008
            return page.fetch(link, progress)

        upload_btn.click(
            on_upload, inputs=[uploads], outputs=[*lib_out, uploads], api_name="upload",
            concurrency_limit=1, concurrency_id="ingest",
        )
        fetch_btn.click(
            on_fetch, inputs=[url], outputs=lib_out, api_name="fetch",
            concurrency_limit=1, concurrency_id="ingest",
        )
        refresh.click(page.library, outputs=[library], api_name="library")
        gr.api(page.ask_json, api_name="ask")
    return app


def launch_kwargs(settings: Settings) -> dict[str, Any]:
    """Arguments for ``Blocks.launch``: loopback by default, never a share link."""
    auth = None
    password = reveal(settings.auth_password)
    if settings.auth_user and password:
        auth = (settings.auth_user, password)  # served behind LoginGuard by launch()
    elif settings.auth_user or password:
        raise ConfigError("set both ASSISTANT_AUTH_USER and ASSISTANT_AUTH_PASSWORD, or neither")
    return {
        "server_name": settings.host,
        "server_port": settings.port,
        "share": False,
        "auth": auth,
        "auth_message": "Sign in to the rare-earth news assistant." if auth else None,
        "max_file_size": settings.upload_max_bytes,
        "ssr_mode": False,
        "show_error": False,
        "theme": _theme(),
        "css": css(),
        "footer_links": ["api"],
        "app_kwargs": {"middleware": [Middleware(ClientAddress)]},  # the login's client address
    }


def launch(app: gr.Blocks, settings: Settings, **extra: Any) -> Any:
    """Queue with the configured concurrency and serve; ``extra`` overrides launch args.
    An account (user, password) is checked by :class:`LoginGuard`: sign-ins throttled."""
    kwargs = launch_kwargs(settings)
    kwargs.update(extra)
    if isinstance(kwargs.get("auth"), tuple):
        user, password = kwargs["auth"]
        kwargs["auth"] = LoginGuard(user, password, settings)
    return app.queue(default_concurrency_limit=settings.concurrency).launch(**kwargs)
