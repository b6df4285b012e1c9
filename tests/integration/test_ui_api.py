"""The page over HTTP and in a subprocess: the fake assistant behind a real Gradio server
(in process), and the real ``python app.py`` (real embedding model, real Chroma in a temp
dir, extractive answer writer) driven over loopback with ``gradio_client``.
tests/unit/test_ui_api.py drives the handlers directly."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest

from assistant.feedback import FeedbackStore
from assistant.ui import layout
from tests.conftest import CORPUS, REPO
from tests.integration.ui_server import free_port, start_app, stop_app
from tests.unit.fakes import FakeAssistant

pytestmark = pytest.mark.slow


def _text(message: dict) -> str:
    """A chat message's text as gradio_client returns it (a string or a list of parts)."""
    content = message["content"]
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content)


def test_rendering_imports_neither_gradio_nor_settings():
    """render is pure, and importing the page's modules leaves the environment alone."""
    code = (
        "import os, sys; before = dict(os.environ); import assistant.ui.render, assistant.ui; "
        "assert 'gradio' not in sys.modules, 'render imported gradio'; "
        "import assistant.ui.page; assert dict(os.environ) == before, 'the environment changed'"
    )
    env = {k: v for k, v in os.environ.items() if k != "GRADIO_ANALYTICS_ENABLED"}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


# ---- the HTTP API, in process, with the fake -------------------------------------------------
def test_api_endpoints_with_fake(settings, monkeypatch, tmp_path):
    from gradio_client import Client

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    s = settings.model_copy(update={"port": free_port()})
    app = layout.build_app(FakeAssistant(s), FeedbackStore(tmp_path / "fb.sqlite3"))
    layout.launch(app, s, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{s.port}/", verbose=False)
        names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
        assert {"/chat", "/ask", "/check", "/upload", "/library", "/comment",
                "/whats_new"} <= names
        news = client.predict(api_name="/whats_new")  # the What's new tab
        assert "2 articles, 2 stories; newest article 2025-11-20" in news
        assert "No feed is watched" in news
        assert news.index("Malaysia &lt;b&gt;magnets&lt;/b&gt; 1") < news.index("China and")
        data = client.predict("How big is it?", "", "", [], "", api_name="/ask")
        assert data["claims"][1]["verdict"]["label"] == "unsupported"
        messages, panel, _box = client.predict(
            "How big is it?", None, None, [], "extractive", api_name="/chat"
        )
        assert 'href="#src-1-1"' in _text(messages[-1]) and 'id="src-1-1"' in panel
    finally:
        app.close()


def test_slow_answer_does_not_block_other_users(settings, monkeypatch, tmp_path):
    """Two answers run side by side (concurrency 2); the library answers meanwhile."""
    from gradio_client import Client

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    s = settings.model_copy(update={"port": free_port(), "concurrency": 2})
    fake = FakeAssistant(s, delay=0.12)  # ~24 tokens: ~3 s per answer
    app = layout.build_app(fake, FeedbackStore(tmp_path / "fb.sqlite3"))
    layout.launch(app, s, prevent_thread_lock=True, quiet=True)
    try:
        url = f"http://127.0.0.1:{s.port}/"
        first, second = Client(url, verbose=False), Client(url, verbose=False)
        t0 = time.perf_counter()
        one = first.predict("q1", None, None, [], "extractive", api_name="/chat")
        single = time.perf_counter() - t0
        assert single > 2.0
        t0 = time.perf_counter()
        job = first.submit("q2", None, None, [], "extractive", api_name="/chat")
        time.sleep(0.5)
        rows = second.predict(api_name="/library")
        library_wait = time.perf_counter() - t0 - 0.5
        two = second.predict("q3", None, None, [], "extractive", api_name="/chat")
        both = time.perf_counter() - t0
        job.result(timeout=60)
        assert len(rows["data"]) == 2 and library_wait < 1.0, library_wait
        assert both < 1.6 * single + 0.5, (both, single)  # not queued behind the first
        assert 'class="answer' in _text(one[0][-1]) and 'class="answer' in _text(two[0][-1])
    finally:
        app.close()


# ---- the real app, over loopback -------------------------------------------------------------
@pytest.mark.slow
def test_real_app_over_gradio_client(tmp_path):
    from gradio_client import Client

    proc, url, log = start_app(tmp_path, "extractive")
    try:
        client = Client(url, verbose=False)
        question = "How many tonnes of NdFeB magnets a year does the Lynas and JS Link plan target?"
        data = client.predict(question, "", "", [], "", api_name="/ask")
        assert data["backend"] == "extractive" and not data["abstained"]
        assert "3,000" in data["text"]
        assert data["citations"], data
        source_text = {s["number"]: s["passage"]["chunk"]["text"] for s in data["sources"]}
        for cit in data["citations"]:
            assert cit["quote"] and cit["quote"] in source_text[cit["number"]]
        labels = [c["verdict"]["label"] for c in data["claims"] if c["verdict"]]
        assert labels and set(labels) <= {"supported", "unsupported", "contradicted"}
        assert "supported" in labels
        # the chat handler: the rendered answer links [n] to source cards with the quote
        messages, panel, _box = client.predict(
            question, None, None, [], "extractive", api_name="/chat"
        )
        final = _text(messages[-1])
        assert "3,000" in final and 'class="cite"' in final and "data-turn" in final
        n = int(re.search(r'href="#src-1-(\d+)"', final).group(1))
        assert f'id="src-1-{n}"' in panel and "<mark>" in panel
        rows = client.predict(api_name="/library")
        assert len(rows["data"]) == len(list(CORPUS.iterdir()))

        # upload: a good article is indexed and answerable, a bad file gets its reason
        from gradio_client import handle_file

        good = tmp_path / "gallium note.md"
        good.write_text(
            "---\ntitle: Gallium export licences tightened\nsource: Test Wire\n"
            "published: 2025-10-02\n---\nChina's commerce ministry said gallium exporters "
            "now need a licence for every shipment to Europe, starting 1 December 2025.\n"
        )
        bad = tmp_path / "setup.exe"
        bad.write_bytes(b"MZ" * 64)
        report, rows, _outlets, header, _box = client.predict(
            [handle_file(str(good)), handle_file(str(bad))], api_name="/upload"
        )
        assert "gallium note.md</b>: indexed" in report
        assert "setup.exe</b>: refused" in report
        titles = [r[0] for r in rows["data"]]
        assert "Gallium export licences tightened" in titles and len(titles) == 3
        assert "3 articles" in header
        data = client.predict(
            "What do gallium exporters now need for shipments to Europe?", "", "", [], "",
            api_name="/ask",
        )
        assert any(s["passage"]["chunk"]["source"] == "Test Wire" for s in data["sources"])
    finally:
        stop_app(proc)


@pytest.mark.slow
def test_real_app_restart_reuses_the_index(tmp_path):
    proc, url, log = start_app(tmp_path, "extractive")
    stop_app(proc)
    first = log.read_text()
    assert re.search(r"index ready in [\d.]+s: 2 added", first), first[-2000:]
    proc, url, log = start_app(tmp_path, "extractive")
    try:
        text = log.read_text()
        assert re.search(r"index ready in [\d.]+s: 0 added, 0 updated, 2 unchanged", text), text
    finally:
        stop_app(proc)
