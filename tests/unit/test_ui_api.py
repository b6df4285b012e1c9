"""The page's handlers, driven directly with the fake assistant (tests/unit/fakes.py).

tests/integration/test_ui_api.py serves the page over HTTP: the fake behind a real Gradio
server, and the real ``python app.py`` over loopback with ``gradio_client``.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from assistant.errors import ConfigError, GenerationError, LoadError, user_message
from assistant.ui import layout, render
from assistant.ui import page as ui
from tests.conftest import REPO
from tests.unit.fakes import FakeAssistant, make_answer


@pytest.fixture
def page(settings):
    return ui.Page(FakeAssistant(settings))


def _run_chat(page, question, conv, **kw):
    updates = list(page.chat(question, conv, **kw))
    messages, panel, conv, box = updates[-1]
    return updates, messages, panel, conv, box


# ---- rendering -------------------------------------------------------------------------------
def test_answer_html_links_markers_and_marks_verdicts():
    answer = make_answer("How big is it?")
    out = render.render_answer(answer, 7)
    # each [n] is a link to the card of that source in the panel, with the quote on hover
    assert re.search(r'<a class="cite" href="#src-7-1" title="[^"]*targets 3,000 tonnes', out)
    assert 'href="#src-7-2"' in out
    assert '<span class="claim ok"' in out and "✓" in out
    assert 'data-verdict="unsupported"' in out and "no source gives an opening date" in out
    assert 'data-verdict="contradicted"' in out and "“3,000 tonnes”" in out
    assert "1 of 3 sentences backed" in out and "answered by extractive" in out
    assert "a year <a class=\"cite\"" in out and "[1]</a>.<span class=\"mark ok\"" in out
    assert out.count('<span class="para">') == 1  # the paragraph break of the text is kept
    assert "\n" not in out  # one HTML block: markdown must not split it
    # the article title is untrusted: escaped in the tooltip
    assert "<b>magnets</b>" not in out and "&lt;b&gt;magnets&lt;/b&gt;" in out


def test_sources_panel_escapes_and_marks_quotes():
    answer = make_answer("q")
    out = render.render_sources([(3, answer)])
    assert 'id="src-3-1"' in out and 'id="src-3-2"' in out
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert "<mark>targets 3,000 tonnes of NdFeB magnets annually</mark>" in out
    assert 'href="https://example.org/a"' in out
    assert "javascript:" not in out  # only http(s) URLs become links
    assert "REEx" in out and "2025-11-20" in out


def test_a_pending_answer_goes_above_the_earlier_ones_in_one_panel():
    earlier, pending = make_answer("first question"), make_answer("second question")
    out = render.render_sources([(3, earlier)], pending=(4, pending))
    assert out.count('class="src-title"') == 1 and out.count('class="sources"') == 1
    assert out.index("the answer is being written") < out.index("Sources for “first question”")
    assert 'id="src-4-1"' in out and 'id="src-3-1"' in out
    alone = render.render_sources([], pending=(1, pending))
    assert "being written" in alone and "sources empty" not in alone


def test_unknown_marker_is_not_a_link():
    answer = make_answer("q")
    out = render.link_markers("See [1, 9].", answer, 0)
    assert 'href="#src-0-1"' in out and 'href="#src-0-9"' not in out
    assert "no source [9]" in out


def test_user_message_translates_our_errors():
    assert user_message(ConfigError("The “from” date is after the “to” date.")).startswith("The")
    assert "language model failed" in user_message(GenerationError("secret stack detail"))
    assert "secret" not in user_message(GenerationError("secret stack detail"))
    assert user_message(LoadError("a.txt", "binary file")) == "a.txt: binary file"
    assert "details were logged" in user_message(KeyError("x"))


# ---- chat ------------------------------------------------------------------------------------
def test_chat_streams_then_shows_the_checked_answer(page):
    updates, messages, panel, conv, box = _run_chat(page, "  How big is it? ", ui.Conversation())
    assert len(updates) >= 3  # the question, streamed pieces, the final answer
    assert box == ""
    assert messages[0] == {"role": "user", "content": "How big is it?"}
    assert "Searching" in updates[0][0][1]["content"]
    assert 'class="cite"' in messages[1]["content"]
    assert 'id="src-1-1"' in panel
    assert conv.answers[1].question == "How big is it?"
    # the sources were on the panel before the first answer token, best sentence marked
    first_sources = next(i for i, u in enumerate(updates) if "the answer is being written" in u[1])
    assert 'class="streaming"' not in updates[first_sources][0][-1]["content"]
    assert "Found" in updates[first_sources][0][-1]["content"]  # and the status says so
    assert "<mark>" in updates[first_sources][1] and 'id="src-1-1"' in updates[first_sources][1]
    assert "Found " not in panel  # the final panel is the answer's own


def test_follow_up_gets_the_conversation_and_filters(settings):
    fake = FakeAssistant(settings)
    page = ui.Page(fake)
    *_, conv, _ = _run_chat(page, "How big is the plant?", ui.Conversation())
    _, messages, panel, conv, _ = _run_chat(
        page, "Who builds it?", conv, since="2025-07-01", until="2025-12-31 00:00:00",
        outlets=["REEx"], backend="extractive",
    )
    question, history, filters, backend = fake.calls[-1]
    assert question == "Who builds it?"
    assert [t.role for t in history] == ["user", "assistant"]
    assert history[0].text == "How big is the plant?"
    assert str(filters.since) == "2025-07-01" and str(filters.until) == "2025-12-31"
    assert filters.sources == ("REEx",) and backend == "extractive"
    assert len(messages) == 4 and sorted(conv.answers) == [1, 3]
    assert panel.index('id="src-3-1"') < panel.index('id="src-1-1"')  # newest first


def test_bad_date_is_a_friendly_message(page):
    _, messages, *_ = _run_chat(page, "q", ui.Conversation(), since="last tuesday")
    assert "is not a date (use YYYY-MM-DD)" in messages[-1]["content"]
    _, messages, *_ = _run_chat(page, "q", ui.Conversation(), since="2025-02-01",
                                until="2025-01-01")
    assert "after" in messages[-1]["content"]


def test_failure_shows_a_message_not_a_trace(settings, caplog):
    page = ui.Page(FakeAssistant(settings, fail=True))
    with caplog.at_level(logging.ERROR, logger="assistant.ui.page"):
        _, messages, _, conv, _ = _run_chat(page, "q", ui.Conversation())
    shown = messages[-1]["content"]
    assert "language model failed" in shown
    assert "secret stack detail" not in shown and "Traceback" not in shown
    assert any(r.exc_info for r in caplog.records)  # logged with the exception
    assert conv.answers == {}


def test_empty_question_does_nothing(page):
    [(messages, _, conv, _)] = list(page.chat("   ", ui.Conversation()))
    assert messages == [] and conv.turns == []


# ---- feedback --------------------------------------------------------------------------------
def test_rating_and_comment_are_stored(page):
    *_, conv, _ = _run_chat(page, "How big is it?", ui.Conversation())
    html, conv = page.rate(conv, "", 0, False)  # the user's message cannot be rated
    assert "Only answers" in html
    html, conv = page.rate(conv, "", 1, False)
    assert "not helpful" in html
    html, conv, box = page.comment(conv, "the year is wrong")
    assert "saved" in html and box == ""
    [row] = page.feedback.rows()
    assert (row.rating, row.comment, row.face) == ("down", "the year is wrong", "web")
    assert row.question == "How big is it?" and row.answer.startswith("The Pahang plant")
    assert [v["label"] for v in row.verdicts] == ["supported", "unsupported", "contradicted"]
    page.rate(conv, "", 1, True)  # changing one's mind updates the same row
    assert [r.rating for r in page.feedback.rows()] == ["up"]


def test_comment_before_rating_is_refused(page):
    html, _, box = page.comment(ui.Conversation(), "hello")
    assert "first" in html and box == "hello"


# ---- fact-check ------------------------------------------------------------------------------
def test_check_table_and_exports(page):
    rows, summary, files = page.check("Lynas builds 3,000 tonnes of magnets.")
    assert [r[1].split(" ")[1] for r in rows] == ["supported", "unsupported", "contradicted"]
    assert rows[0][2].startswith("targets 3,000") and rows[0][4] == "2025-11-20"
    assert "3 claims" in summary
    csv_path, json_path = map(Path, files)
    assert csv_path.read_text().splitlines()[0].startswith("claim,verdict,evidence_quote")
    assert '"contradicted"' in json_path.read_text()
    assert page.check("  ")[1].count("Paste") == 1


# ---- library ---------------------------------------------------------------------------------
def test_upload_validates_types_sizes_and_reports_per_file(settings, tmp_path):
    fake = FakeAssistant(settings.model_copy(update={"upload_max_bytes": 100}))
    page = ui.Page(fake)
    good = tmp_path / "new article.md"
    good.write_text("# Title\n\nLynas expands.")
    exe = tmp_path / "tool.exe"
    exe.write_bytes(b"MZ\x00\x01")
    big = tmp_path / "big.txt"
    big.write_text("x" * 500)
    binary = tmp_path / "blob.txt"
    binary.write_bytes(b"\x00\x01\x02binary")
    report, rows, outlets, header = page.upload([str(good), str(exe), str(big), str(binary)])
    assert "tool.exe</b>: refused: “.exe” files are not accepted" in report
    assert "big.txt</b>: refused: 0.0 MB is over the upload limit" in report
    assert "blob.txt</b>: binary file" in report
    assert "new article.md</b>: indexed" in report
    # only valid files reach the ingest, copied to index/uploads under a safe name
    [inputs] = fake.ingested
    assert [Path(i).name for i in inputs] == ["new_article.md", "blob.txt"]
    uploads = settings.index_dir / "uploads"
    assert sorted(p.name for p in uploads.iterdir()) == ["new_article.md"]  # failed one removed
    titles = [r[0] for r in rows]
    assert "Malaysia <b>magnets</b> 1" in titles and "new_article" in titles
    assert outlets["choices"] == ["Azernews", "REEx"]
    assert "3 articles" in header


def test_fetch_needs_a_web_address(page):
    report, rows, _, _ = page.fetch("ftp://example.org/feed")
    assert "http:// or https://" in report and len(rows) == 2


def test_launch_kwargs(settings):
    kw = layout.launch_kwargs(settings)
    assert kw["share"] is False and kw["server_name"] == "127.0.0.1" and kw["auth"] is None
    assert kw["max_file_size"] == settings.upload_max_bytes
    s = settings.model_copy(update={"auth_user": "ann", "auth_password": "pw"})
    assert layout.launch_kwargs(s)["auth"] == ("ann", "pw")
    with pytest.raises(ConfigError):
        layout.launch_kwargs(settings.model_copy(update={"auth_user": "ann"}))


def test_app_py_is_a_thin_entry_point():
    text = (REPO / "app.py").read_text()
    assert "from assistant.ui import main" in text and len(text.splitlines()) < 10
