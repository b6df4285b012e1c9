"""Issue 20, the page (items 5, 6 and from 10 upload paths and the backend choice): the pure
parts, driven directly with the fake assistant. tests/integration/test_attacks_page.py does
the same through gradio_client against a real page server on loopback."""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr
import pytest
from fastapi import HTTPException

from assistant.errors import LoadError
from assistant.models import IngestResult
from assistant.ui import guard
from assistant.ui import page as ui
from assistant.ui.exports import scrub_paths
from tests.unit.fakes import FakeAssistant

CLAIMS = " ".join(f"Lynas shipped {n},000 tonnes of oxide to Japan in 2025." for n in range(1, 8))


def _session(name: str) -> SimpleNamespace:
    return SimpleNamespace(username=None, session_hash=name)


# ---- 5: input limits ---------------------------------------------------------------------------
def test_overlong_question_refused_with_message_and_no_ask(settings):
    fake = FakeAssistant(settings.model_copy(update={"max_question_chars": 100}))
    page = ui.Page(fake)
    [(messages, _, conv, box)] = list(page.chat("x" * 1_000_000, ui.Conversation()))
    assert "too long" in messages[-1]["content"] and "100" in messages[-1]["content"]
    assert len(messages[-2]["content"]) < 300  # the megabyte is not echoed back
    assert fake.calls == [] and conv.turns == [] and box == ""
    with pytest.raises(gr.Error, match="too long"):
        page.ask_json("y" * 101)
    assert fake.calls == []
    list(page.chat("z" * 100, ui.Conversation()))  # at the limit: answered
    assert len(fake.calls) == 1


def test_overlong_paste_refused_without_checking(settings):
    fake = FakeAssistant(settings.model_copy(update={"max_check_chars": 200}))
    rows, summary, files = ui.Page(fake).check("Lynas shipped 3,000 tonnes. " * 50)
    assert rows == [] and files is None and "too long" in summary and "200" in summary
    assert fake.checked == []


def test_too_many_claims_refused_without_checking(settings):
    fake = FakeAssistant(settings.model_copy(update={"max_check_claims": 3}))
    rows, summary, files = ui.Page(fake).check(CLAIMS)
    assert rows == [] and files is None
    assert "7 claims" in summary and "limit is 3" in summary
    assert fake.checked == []


def test_check_runs_claim_by_claim_and_stops_when_the_client_leaves(settings):
    fake = FakeAssistant(settings)
    page = ui.Page(fake)
    stream = page.check_stream(CLAIMS, _session("s1"))
    rows, progress, files = next(stream)
    assert "Checked 1 of 7" in progress and files is None and rows
    stream.close()  # what gradio does when the client is gone
    assert len(fake.checked) == 1
    assert page.in_flight.enter("session:s1")  # the slot was given back


# ---- 5: one answer in flight per user -----------------------------------------------------------
def test_second_concurrent_ask_of_one_user_is_refused(settings):
    fake = FakeAssistant(settings)
    page = ui.Page(fake)
    first = page.chat("How big is the plant?", ui.Conversation(), request=_session("a"))
    next(first), next(first)  # the question is shown, then the answer is being written
    [(messages, *_)] = list(page.chat("And when?", ui.Conversation(), request=_session("a")))
    assert "one question at a time" in messages[-1]["content"].lower()
    assert [c[0] for c in fake.calls] == ["How big is the plant?"]
    with pytest.raises(gr.Error, match="One question at a time"):
        page.ask_json("And when?", request=_session("a"))
    *_, (messages, *_) = page.chat("Who?", ui.Conversation(), request=_session("b"))
    assert "at a time" not in messages[-1]["content"] and len(fake.calls) == 2  # b unaffected
    list(first)  # done: the user may ask again
    *_, (messages, *_) = page.chat("And when?", ui.Conversation(), request=_session("a"))
    assert len(fake.calls) == 3


# ---- 6: login throttled --------------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _guard(settings, clock):
    s = settings.model_copy(update={"login_attempts": 5, "login_window": 300.0})
    return guard.LoginGuard("ann", "pw", s, clock=clock)


def test_login_locked_after_failures_even_with_the_right_password(settings):
    clock = Clock()
    check = _guard(settings, clock)
    assert check("ann", "pw") is True
    for _ in range(5):
        assert check("ann", "wrong") is False
    with pytest.raises(HTTPException) as refused:
        check("ann", "pw")
    assert refused.value.status_code == 429 and "Try again in" in refused.value.detail
    clock.now += 301  # the window passes
    assert check("ann", "pw") is True


def test_login_throttle_of_one_user_leaves_another_alone(settings):
    check = _guard(settings, Clock())
    for _ in range(5):
        assert check("mallory", "guess") is False
    with pytest.raises(HTTPException):
        check("mallory", "guess")
    assert check("ann", "pw") is True  # same address, other user: not locked


def test_login_throttled_per_address(settings):
    clock = Clock()
    check = _guard(settings, clock)
    token = guard._client_address.set("10.0.0.9")
    try:
        for n in range(5 * guard.ADDRESS_FACTOR):  # many names, few tries each
            assert check(f"user{n}", "guess") is False
        with pytest.raises(HTTPException):
            check("ann", "pw")
    finally:
        guard._client_address.reset(token)
    token = guard._client_address.set("10.0.0.10")
    try:
        assert check("ann", "pw") is True  # another address is not affected
    finally:
        guard._client_address.reset(token)


# ---- 10: backend choice limited ---------------------
def test_backend_not_allowed_falls_back_to_the_default(settings):
    s = settings.model_copy(update={"backend": "extractive", "page_backends": ()})
    assert guard.page_backends(s) == ("extractive",)
    assert guard.pick_backend("local", s) == "extractive"
    assert guard.pick_backend("", s) == "extractive"
    fake = FakeAssistant(s)
    page = ui.Page(fake)
    list(page.chat("How big?", ui.Conversation(), backend="local"))
    page.ask_json("How big?", backend="local")
    assert [c[3] for c in fake.calls] == ["extractive", "extractive"]
    allowed = s.model_copy(update={"page_backends": ("local",)})
    assert guard.pick_backend("local", allowed) == "local"
    assert guard.page_backends(allowed) == ("local", "extractive")  # no model: always allowed


# ---- 10: no server paths in upload errors ---------------------
def test_upload_errors_name_the_file_not_the_server_path(settings, tmp_path):
    upload = tmp_path / "incoming" / "bad news.md"
    upload.parent.mkdir()
    upload.write_text("---\ntitle: [unclosed\n---\nLynas expands.")
    stored = settings.index_dir / "uploads" / "bad_news.md"
    result = IngestResult(failed=((str(stored), f"{stored}: front matter is not valid YAML"),))
    fake = FakeAssistant(settings, ingest_result=result)
    before = len(fake.articles)
    report, *_ = ui.Page(fake).upload([str(upload)])
    assert "bad news.md" in report and "front matter" in report
    assert str(tmp_path) not in report and "/uploads/" not in report
    assert len(fake.articles) == before  # nothing indexed is lost

    class Failing(FakeAssistant):
        def ingest(self, inputs, prune=False, progress=None):
            raise LoadError(inputs[0], f"could not read {inputs[0]}")

    report, *_ = ui.Page(Failing(settings)).upload([str(upload)])
    assert "bad news.md" in report and str(tmp_path) not in report


def test_scrub_paths():
    assert scrub_paths("/srv/app/index/uploads/a.md: empty", {}) == "a.md: empty"
    assert scrub_paths("see /x/y/b.md", {"/x/y/b.md": "b file.md"}) == "see b file.md"
    assert scrub_paths("https://example.org/a/b/c failed", {}) == "https://example.org/a/b/c failed"
