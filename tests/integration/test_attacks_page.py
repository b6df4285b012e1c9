"""Issue 20, the page (items 5, 6 and from 10 upload paths and the backend choice), through
a real Gradio server on loopback with the fake assistant behind it: limits on questions and
pasted text, a fact-check stopped when its client leaves, one answer in flight per user,
sign-in throttled, the backend choice limited, no server paths in upload errors.
tests/unit/test_attacks_page.py drives the same rules directly."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest

from assistant.feedback import FeedbackStore
from assistant.models import IngestResult
from assistant.ui import layout
from tests.integration.ui_server import free_port
from tests.unit.fakes import FakeAssistant, SlowCheckAssistant

pytestmark = pytest.mark.slow

CLAIMS = " ".join(f"Lynas shipped {n},000 tonnes of oxide to Japan in 2025." for n in range(1, 21))


def _text(message: dict) -> str:
    content = message["content"]
    return content if isinstance(content, str) else "".join(p.get("text", "") for p in content)


@pytest.fixture
def serve(settings, monkeypatch, tmp_path):
    """serve(fake, **settings) -> the page's URL; the server is closed after the test."""
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    apps = []

    def start(make=FakeAssistant, **update):
        s = settings.model_copy(update={"port": free_port(), **update})
        fake = make(s)
        app = layout.build_app(fake, FeedbackStore(tmp_path / "fb.sqlite3"))
        layout.launch(app, s, prevent_thread_lock=True, quiet=True)
        apps.append(app)
        return fake, f"http://127.0.0.1:{s.port}/"

    yield start
    for app in apps:
        app.close()


def test_overlong_question_and_paste_refused(serve):
    from gradio_client import Client

    fake, url = serve(max_question_chars=500, max_check_chars=5000, max_check_claims=10)
    client = Client(url, verbose=False)
    messages, _panel, _box = client.predict(
        "x" * 1_000_000, None, None, [], "extractive", api_name="/chat"
    )
    assert "too long" in _text(messages[-1])
    with pytest.raises(Exception, match="too long"):
        client.predict("y" * 501, "", "", [], "", api_name="/ask")
    _rows, summary, _files = client.predict("Lynas shipped 3,000 tonnes. " * 400,
                                            api_name="/check")
    assert "too long" in summary
    _rows, summary, _files = client.predict(CLAIMS, api_name="/check")
    assert "20 claims" in summary and "limit is 10" in summary
    assert fake.calls == [] and fake.checked == []


def _queue_join(url: str, api_name: str, data: list) -> str:
    """Join the queue for ``api_name`` like a browser does; returns the session hash."""
    config = httpx.get(url + "config", timeout=10).json()
    fn = next(d["id"] for d in config["dependencies"] if d.get("api_name") == api_name)
    session = uuid.uuid4().hex[:11]
    body = {"data": data, "fn_index": fn, "session_hash": session, "event_data": None,
            "trigger_id": None}
    httpx.post(url + "gradio_api/queue/join", json=body, timeout=10).raise_for_status()
    return session


def test_check_stops_when_the_client_leaves(serve):
    fake, url = serve(lambda s: SlowCheckAssistant(s, check_delay=0.3), max_check_claims=40)
    session = _queue_join(url, "check", [CLAIMS])
    messages = []
    with httpx.stream("GET", url + "gradio_api/queue/data", params={"session_hash": session},
                      timeout=30) as events:
        for line in events.iter_lines():
            if line.startswith("data:"):
                messages.append(json.loads(line[5:]).get("msg"))
                if messages[-1] in ("process_generating", "process_completed"):
                    break  # a first result: the client leaves
    assert messages[-1] == "process_generating"  # claim by claim, not all 20 in one go
    time.sleep(0.3 * 8)
    left_at = len(fake.checked)
    time.sleep(0.3 * 6)
    assert 1 <= left_at < 20 and len(fake.checked) == left_at, (left_at, len(fake.checked))


def test_second_concurrent_ask_gets_one_question_at_a_time(serve):
    from gradio_client import Client

    fake, url = serve(lambda s: FakeAssistant(s, delay=0.1), concurrency=2)
    client = Client(url, verbose=False)
    first = client.submit("How big is the plant?", None, None, [], "extractive", api_name="/chat")
    time.sleep(1.0)
    messages, *_ = client.predict("And when?", None, None, [], "extractive", api_name="/chat")
    assert "one question at a time" in _text(messages[-1]).lower()
    other, *_ = Client(url, verbose=False).predict(
        "Who?", None, None, [], "extractive", api_name="/chat"
    )
    assert 'class="answer' in _text(other[-1])  # another user is not held up
    messages, *_ = first.result(timeout=60)
    assert 'class="answer' in _text(messages[-1])
    assert [c[0] for c in fake.calls] == ["How big is the plant?", "Who?"]


def _login(url: str, user: str, password: str) -> httpx.Response:
    return httpx.post(url + "login", data={"username": user, "password": password}, timeout=10)


def test_login_throttled_through_the_server(serve):
    from gradio_client import Client

    _fake, url = serve(auth_user="ann", auth_password="right", login_attempts=5)
    for _ in range(5):
        assert _login(url, "mallory", "guess").status_code == 400
    assert _login(url, "mallory", "guess").status_code == 429
    assert _login(url, "ann", "right").status_code == 200  # another user: not affected
    for _ in range(5):
        assert _login(url, "ann", "wrong").status_code == 400
    refused = _login(url, "ann", "right")  # the right password, too soon
    assert refused.status_code == 429 and "Too many failed sign-ins" in refused.text
    with pytest.raises(Exception):  # noqa: B017 - gradio_client's own error type varies
        Client(url, auth=("ann", "right"), verbose=False)


def test_backend_not_allowed_gets_the_default(serve):
    from gradio_client import Client

    fake, url = serve(backend="extractive", page_backends=())
    client = Client(url, verbose=False)
    data = client.predict("How big is it?", "", "", [], "local", api_name="/ask")
    assert data["backend"] == "extractive"
    try:  # the dropdown refuses a value it does not offer, or the default is used
        client.predict("How big?", None, None, [], "local", api_name="/chat")
    except Exception:  # noqa: BLE001, S110
        pass
    assert [c[3] for c in fake.calls] and {c[3] for c in fake.calls} == {"extractive"}


def test_upload_errors_show_no_server_path(serve, tmp_path, settings):
    from gradio_client import Client, handle_file

    stored = settings.index_dir / "uploads" / "bad_news.md"
    result = IngestResult(failed=((str(stored), f"{stored}: front matter is not valid YAML"),))
    fake, url = serve(lambda s: FakeAssistant(s, ingest_result=result))
    bad = tmp_path / "bad news.md"
    bad.write_text("---\ntitle: [unclosed\n---\nLynas expands.\n")
    before = len(fake.articles)
    report, rows, *_ = Client(url, verbose=False).predict(
        [handle_file(str(bad))], api_name="/upload"
    )
    assert "bad news.md" in report and "front matter" in report
    assert str(tmp_path) not in report and "/uploads/" not in report and "/tmp/" not in report
    assert len(rows["data"]) == before  # nothing already indexed is lost
