"""The page in a real browser: Debian's Chromium driven by Playwright, against ``python app.py``
on loopback with the real local model (Qwen2.5 1.5B via llama.cpp) and a fresh index of
corpus/.

The first question asks for a figure the corpus gives (3,000 tonnes): the answer, its [n]
links and the quoted passage in the sources panel are checked. A flagged sentence is then
provoked with questions about claims the articles *report in order to doubt* ("Anwar's claim
that the facility is already underway lacks published investment details"; "Assertions that
Beijing's motivation is specifically to undercut Lynas feel more speculative"): the model
restates them and the checker does not let the doubting passage back them (measured on
2026-11-22: the first of these gave one backed and one flagged sentence, the second one
flagged sentence; in a later run the first abstained and the second gave a contradicted
sentence). "When will it open and who will fund it?" makes the model add an unbacked
sentence. The plain 3,000-tonne question alone gave a flagged sentence in one run of four.
They are asked in the same conversation, one after another, until an answer carries a flag
(at most three of them). The screenshot goes to artifacts/ui_answer.png.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from tests.conftest import CORPUS, REPO
from tests.integration.ui_server import start_app, stop_app

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
ANSWER_TIMEOUT_MS = 600_000  # the local model: 10-90 s per answer, minutes on an overloaded box
QUESTION = "How many tonnes of NdFeB magnets a year will the Pahang facility make?"
#: A second outlet that gives another figure for the same plant: an answer that states either
#: figure must be shown flagged ("the sources disagree"), whatever the model writes.
CONFLICTING_ARTICLE = """---
id: magnet-wire
title: Lynas and JS Link plan a larger Pahang magnet plant
published: 2025-11-20
source: Example Metals Wire
---
Lynas Rare Earths and JS Link said the Pahang facility will make 5,000 tonnes of NdFeB magnets
a year, according to a company presentation.
"""
FLAG_QUESTIONS = (
    "What does Example Metals Wire say the Pahang facility will make a year?",
    "Is the Pahang super magnet facility already underway?",
    "What did Azernews claim about Beijing's motivation regarding Lynas?",
    "When will the Pahang magnet facility open and who will fund it?",
)
FLAGGED = (
    "#chat .answer .claim.unsup, #chat .answer .claim.contra, #chat .answer .claim.conflict"
)
ARTIFACTS = REPO / "artifacts"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ui-browser")
    corpus = tmp / "corpus"
    corpus.mkdir()
    for article in CORPUS.glob("*.txt"):
        shutil.copy(article, corpus / article.name)
    (corpus / "magnet-wire.md").write_text(CONFLICTING_ARTICLE, encoding="utf-8")
    proc, url, log = start_app(tmp, "local", {"ASSISTANT_CORPUS_DIR": str(corpus)})
    try:
        yield url, tmp / "index"
    finally:
        stop_app(proc)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: apt-get install -y chromium chromium-driver")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    outside: list[str] = []
    pg.on(
        "request",
        lambda r: outside.append(r.url)
        if not r.url.startswith(("http://127.0.0.1", "data:", "blob:"))
        else None,
    )
    pg.outside_requests = outside  # type: ignore[attr-defined]
    yield pg
    context.close()


def _ask(page, question: str, n_answers: int) -> str:
    """Type a question, wait until answer number ``n_answers`` is rendered; its text."""
    page.fill("#question textarea", question)
    started = time.monotonic()
    page.click("#ask")
    # tokens stream into the bubble; the checked answer (.answer) replaces them at the end
    page.wait_for_function(
        "n => document.querySelectorAll('#chat .answer').length >= n",
        arg=n_answers,
        timeout=ANSWER_TIMEOUT_MS,
    )
    page.wait_for_timeout(500)
    text = page.locator("#chat .answer").nth(n_answers - 1).inner_text()
    print(f"\nQ: {question}\nA ({time.monotonic() - started:.0f} s): {text}")  # noqa: T201
    return text


def test_answer_citations_flags_and_feedback(app, page):
    url, index_dir = app
    page.goto(url)
    page.wait_for_selector("#question textarea")
    text = _ask(page, QUESTION, 1)
    # the corpus says 3,000; the planted second outlet says 5,000
    # (tests/integration/test_answer_real.py checks the figure itself): the answer states
    # one of them
    assert any(figure in text for figure in ("3,000", "3000", "5,000", "5000")), text
    answer = page.locator("#chat .answer").first

    # a citation that links to a source card with its quoted passage
    cite = answer.locator("a.cite").first
    cite.wait_for(state="visible")
    href = cite.get_attribute("href")
    assert href and href.startswith("#src-")
    assert "“" in (cite.get_attribute("title") or "")  # hover shows the quote
    cite.click()
    card = page.locator(f"#sources-panel {href}")
    card.wait_for(state="visible")
    assert page.evaluate("location.hash") == href
    card_text = card.inner_text()
    assert "Pahang" in card_text or "Malaysia" in card_text
    quote = card.locator("mark").first
    assert quote.is_visible() and len(quote.inner_text()) > 10

    # at least one flagged sentence, with its reason / contradicting quote shown
    # (the chat's HTML sanitizer drops data-* attributes: select by class)
    asked = [QUESTION]
    for question in FLAG_QUESTIONS:
        if page.locator(FLAGGED).count():
            break
        _ask(page, question, len(asked) + 1)
        asked.append(question)
    flagged = page.locator(FLAGGED)
    assert flagged.count() >= 1, page.locator("#chat").inner_text()
    flagged.first.scroll_into_view_if_needed()
    assert flagged.first.is_visible()
    why = page.locator(
        "#chat .answer .why.unsup, #chat .answer .why.contra, #chat .answer .why.conflict"
    ).first
    assert why.is_visible() and why.inner_text().strip()
    assert page.locator(".legend").is_visible()

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "ui_answer.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")  # noqa: T201 - shown with pytest -s

    # thumbs down on the last answer -> one row in the SQLite feedback store
    page.locator("#chat button[aria-label='Dislike']").last.click()
    page.wait_for_selector("#fb-status [data-rating='down']", timeout=30_000)
    page.fill("#fb-comment textarea", "this sentence is not what the source says")
    page.click("#fb-send")
    page.wait_for_selector("#fb-status:has-text('Comment saved')", timeout=30_000)
    with sqlite3.connect(index_dir / "feedback.sqlite3") as conn:
        rows = conn.execute(
            "select rating, comment, face, question, answer, verdicts, sources from feedback"
        ).fetchall()
    assert len(rows) == 1
    rating, comment, face, question, answer_text, verdicts, sources = rows[0]
    assert (rating, face, question) == ("down", "web", asked[-1])
    assert comment == "this sentence is not what the source says"
    assert answer_text.strip()
    labels = [v["label"] for v in json.loads(verdicts)]
    assert labels and all(label in ("supported", "unsupported", "contradicted") for label in labels)
    assert json.loads(sources)
    assert page.outside_requests == []  # type: ignore[attr-defined]


def test_bad_upload_is_refused_and_library_kept(app, page, tmp_path):
    url, _ = app
    page.goto(url)
    page.get_by_role("tab", name="Library").click()
    table = page.locator("#library-table")
    table.wait_for(state="visible")
    titles_before = table.inner_text()
    assert "Pahang" in titles_before and "China" in titles_before

    exe = tmp_path / "installer.exe"
    exe.write_bytes(b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" * 50)
    fake_txt = tmp_path / "scan.txt"
    fake_txt.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    page.locator("#upload input[type=file]").set_input_files([str(exe), str(fake_txt)])
    page.wait_for_function(  # both files uploaded to the server and listed
        "() => ['installer', 'scan'].every("
        "n => document.querySelector('#upload').innerText.includes(n))",
        timeout=60_000,
    )
    page.click("#upload-btn")
    report = page.locator("#ingest-report")
    page.wait_for_selector("#ingest-report .ingest-report", timeout=120_000)
    text = report.inner_text()
    print("\nupload report:", text)  # noqa: T201 - shown with pytest -s
    assert "installer.exe: refused" in text and ".exe" in text
    assert "scan.txt:" in text and "binary" in text
    assert "indexed" not in text
    after = table.inner_text()
    assert "Pahang" in after and "China" in after
    assert page.outside_requests == []  # type: ignore[attr-defined]
