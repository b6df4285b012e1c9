"""The SQLite feedback store and ``assistant feedback-export``."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import threading

import pytest

from assistant import cli
from assistant.errors import StoreError
from assistant.feedback import FeedbackStore
from tests.unit.fakes import make_answer


def test_add_and_read_back(tmp_path):
    store = FeedbackStore(tmp_path / "sub" / "fb.sqlite3")
    answer = make_answer("How big is the Pahang plant?")
    row = store.add(answer, "down", comment=" wrong year ", face="web", user="ann")
    [rec] = store.rows()
    assert rec.id == row
    assert (rec.rating, rec.comment, rec.face, rec.user) == ("down", "wrong year", "web", "ann")
    assert rec.question == "How big is the Pahang plant?"
    assert rec.answer == answer.text
    assert [v["label"] for v in rec.verdicts] == ["supported", "unsupported", "contradicted"]
    assert rec.verdicts[0]["evidence"][0]["quote"].startswith("targets 3,000 tonnes")
    assert [s["number"] for s in rec.sources] == [1, 2]
    assert rec.sources[0]["published"] == "2025-11-20"
    assert rec.created.endswith("+00:00")
    # the raw table is plain SQL other tools can read
    with sqlite3.connect(tmp_path / "sub" / "fb.sqlite3") as conn:
        assert conn.execute("select rating, face from feedback").fetchall() == [("down", "web")]


def test_comment_and_rating_updates(tmp_path):
    store = FeedbackStore(tmp_path / "fb.sqlite3")
    row = store.add(make_answer("q"), "up")
    store.set_comment(row, "good quotes")
    store.set_rating(row, "down")
    [rec] = store.rows()
    assert (rec.rating, rec.comment) == ("down", "good quotes")
    with pytest.raises(StoreError):
        store.set_comment(row + 1, "x")


def test_rate_second_click_updates_the_first_row(tmp_path):
    store = FeedbackStore(tmp_path / "fb.sqlite3")
    answer = make_answer("q")
    row = store.rate(answer, "up", face="slack", user="U1")
    assert store.rate(answer, "down", previous=row, face="slack", user="U1") == row
    other = store.rate(answer, "up", face="slack", user="U2")  # another reader: a new row
    assert other != row
    [first, second] = store.rows()
    assert (first.rating, first.user, first.comment) == ("down", "U1", "")
    assert (second.rating, second.user) == ("up", "U2")
    # a comment given with a later click replaces the row's comment; a blank one keeps it
    store.rate(answer, "up", previous=row, comment=" wrong year ")
    store.rate(answer, "up", previous=row, comment="  ")
    assert store.rows()[0].comment == "wrong year"
    with pytest.raises(StoreError):
        store.rate(answer, "up", previous=other + 1)
    with pytest.raises(ValueError):
        store.rate(answer, "meh", previous=row)


@pytest.mark.parametrize("kwargs", [{"rating": "meh"}, {"rating": "up", "face": "email"}])
def test_rejects_bad_values(tmp_path, kwargs):
    with pytest.raises(ValueError):
        FeedbackStore(tmp_path / "fb.sqlite3").add(make_answer("q"), **kwargs)


def test_export_csv_and_json(tmp_path):
    store = FeedbackStore(tmp_path / "fb.sqlite3")
    assert store.export("json") == "[]"
    store.add(make_answer("first, \"quoted\"\nquestion"), "up", face="slack")
    store.add(make_answer("second"), "down", comment="no")
    rows = list(csv.DictReader(io.StringIO(store.export("csv"))))
    assert [r["rating"] for r in rows] == ["up", "down"]
    assert rows[0]["question"] == 'first, "quoted"\nquestion'
    assert json.loads(rows[1]["verdicts"])[2]["label"] == "contradicted"
    data = json.loads(store.export("json"))
    assert [d["face"] for d in data] == ["slack", "web"]
    assert data[1]["sources"][0]["title"].startswith("Malaysia")
    with pytest.raises(ValueError):
        store.export("xml")


def test_concurrent_writers(tmp_path):
    store = FeedbackStore(tmp_path / "fb.sqlite3")
    answer = make_answer("q")
    errors = []

    def work():
        try:
            for _ in range(10):
                store.add(answer, "up")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len({r.id for r in store.rows()}) == 40


def test_cli_feedback_export(tmp_path, capsys, monkeypatch):
    index = tmp_path / "index"
    FeedbackStore(index / "feedback.sqlite3").add(make_answer("Who builds it?"), "down")
    monkeypatch.delenv("ASSISTANT_FEEDBACK_DB", raising=False)
    assert cli.main(["--index", str(index), "feedback-export", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data[0]["question"] == "Who builds it?" and data[0]["rating"] == "down"
    out = tmp_path / "fb.csv"
    assert cli.main(["--index", str(index), "feedback-export", "-o", str(out)]) == 0
    assert out.read_text().splitlines()[0].startswith("id,created,face")
