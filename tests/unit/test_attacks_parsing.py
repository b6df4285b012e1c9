"""Issue 20, parsing and errors (items 4, 7, 9 and the Latin-1 / chunk / feed caps of 10).

Each test reproduces the attack as the issue describes it and asserts the fix, at the loader
level with temporary files, or through ``assistant.cli.main`` with a loader-only assistant
(the real loader and the indexer's own failure bookkeeping; no model, no store).
"""

from __future__ import annotations

import json
import logging
import os
import time
import tracemalloc
from pathlib import Path

import pytest

from assistant import cli
from assistant.config import Settings
from assistant.errors import LoadError, one_line
from assistant.index.indexer import _Run
from assistant.ingest.load import load_inputs
from assistant.ingest.pipeline import chunk_article, prepare
from assistant.models import RawArticle

GOOD = "Lynas Rare Earths said on Tuesday that its Malaysian plant produced 10,500 tonnes.\n"

# 8 levels of 9-fold aliases: the title would expand to 9**8 (43 million) strings.
ALIAS_BOMB = (
    "---\n"
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
    "title: [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
    "---\n"
    "Body of the bomb.\n"
)


@pytest.fixture
def cfg(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, index_dir=tmp_path / "index")


def _split(items: list) -> tuple[dict[str, RawArticle], list[LoadError]]:
    arts = {i.id: i for i in items if isinstance(i, RawArticle)}
    errs = [i for i in items if isinstance(i, LoadError)]
    assert len(arts) + len(errs) == len(items)
    return arts, errs


# ---------------------------------------------------------------- item 4: YAML alias bomb
def test_alias_bomb_refused_fast_with_bounded_memory(tmp_path: Path, cfg: Settings) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "bomb.md").write_text(ALIAS_BOMB, encoding="utf-8")
    (folder / "good.txt").write_text(GOOD, encoding="utf-8")
    assert len(ALIAS_BOMB.encode()) < 400
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        items = list(load_inputs([str(folder)], cfg))
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    arts, errs = _split(items)
    assert elapsed < 1.0
    assert peak < 50 * 1024 * 1024
    assert [e.reason for e in errs] == ["front matter uses YAML aliases (not allowed)"]
    assert errs[0].origin.endswith("bomb.md")
    assert set(arts) == {"good"}  # the rest of the folder still loads


def test_front_matter_and_metadata_fields_capped(tmp_path: Path, cfg: Settings) -> None:
    small = cfg.model_copy(update={"max_meta_chars": 50})
    (tmp_path / "long_title.md").write_text(f"---\ntitle: {'x' * 60}\n---\n{GOOD}")
    (tmp_path / "long_fm.md").write_text("---\n" + "k: v\n" * 200 + f"---\n{GOOD}")
    (tmp_path / "list_title.md").write_text(f"---\ntitle: [a, b]\n---\n{GOOD}")
    (tmp_path / "ok.md").write_text(f"---\ntitle: {'x' * 50}\n---\n{GOOD}")
    arts, errs = _split(list(load_inputs([str(tmp_path)], small)))
    reasons = {Path(e.origin).name: e.reason for e in errs}
    assert reasons == {
        "long_title.md": "front matter 'title' too long (60 characters; the limit is 50)",
        "long_fm.md": "front matter too long (999 characters; the limit is 500)",
        "list_title.md": "front matter 'title' must be text, not list",
    }
    assert arts["ok"].title == "x" * 50


def test_json_record_field_over_the_cap_fails_that_record(tmp_path: Path, cfg: Settings) -> None:
    recs = [{"id": "a", "title": "t" * 2000, "text": GOOD}, {"id": "b", "text": GOOD}]
    (tmp_path / "recs.json").write_text(json.dumps(recs))
    arts, errs = _split(list(load_inputs([str(tmp_path / "recs.json")], cfg)))
    assert set(arts) == {"b"}
    assert [e.reason for e in errs] == [
        "record 1: 'title' too long (2,000 characters; the limit is 1,000)"
    ]


# ------------------------------------------------------------ item 7: symlinks out of a folder
def test_symlink_out_of_the_folder_not_followed(tmp_path: Path, cfg: Settings) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("root:x:0:0:root:/root:/bin/bash secret account line.\n")
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text(GOOD)
    os.symlink(outside, folder / "passwd.txt")
    os.symlink("/etc/passwd", folder / "etc_passwd.txt")
    os.symlink(tmp_path, folder / "sub" / "up")  # a folder link that leaves too
    os.symlink(folder / "a.txt", folder / "sub" / "inside.txt")  # inside: fine
    arts, errs = _split(list(load_inputs([str(folder)], cfg)))
    assert {Path(e.origin).name for e in errs} == {"passwd.txt", "etc_passwd.txt", "up"}
    assert all(e.reason == "symbolic link to outside the folder, not followed" for e in errs)
    assert all(not e.origin.endswith(("secret.txt", "/etc/passwd")) for e in errs)
    assert all("root:" not in a.text for a in arts.values())
    assert "a" in arts and len(arts) == 2  # a.txt, and the link inside under its own id


# ------------------------------------------------------------------------- item 10: caps
def test_chunks_per_article_capped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    words = " ".join(f"w{i}" for i in range(300_000))  # one 300k-word line
    article = prepare(RawArticle("long", "Long", words + ".", "long.txt"))

    def count(s: str) -> int:
        return len(s.split())

    with caplog.at_level(logging.WARNING, logger="assistant.ingest.chunk"):
        chunks = chunk_article(article, 200, count)
    assert len(chunks) == 400  # was 1,500
    assert [c.index for c in chunks] == list(range(400))
    assert any("longer than 400 chunks" in r.getMessage() for r in caplog.records)
    assert len(chunk_article(article, 200, count, max_chunks=10)) == 10
    assert len(chunk_article(article, 200, count, max_chunks=2000)) == 1500


def _feed(n: int) -> str:
    items = "".join(
        f"<item><title>Entry {i}</title><guid>urn:e{i}</guid>"
        f"<description>Entry {i}: {GOOD}</description></item>"
        for i in range(n)
    )
    head = '<?xml version="1.0"?><rss version="2.0"><channel><title>F</title>'
    return f"{head}{items}</channel></rss>"


def test_entries_per_feed_capped(tmp_path: Path, cfg: Settings, caplog) -> None:
    (tmp_path / "news.xml").write_text(_feed(12))
    capped = cfg.model_copy(update={"max_feed_entries": 5})
    with caplog.at_level(logging.WARNING):
        arts, errs = _split(list(load_inputs([str(tmp_path / "news.xml")], capped)))
    assert not errs and len(arts) == 5
    assert any("12 entries" in r.getMessage() for r in caplog.records)
    arts, _ = _split(list(load_inputs([str(tmp_path / "news.xml")], cfg)))
    assert len(arts) == 12


def test_latin1_text_decoded_as_cp1252(tmp_path: Path, cfg: Settings) -> None:
    text = (
        "La Société Générale et Hydro-Québec ont signé un accord sur les terres rares "
        "à Montréal. Le coût est de 5 M€ selon « Les Échos ».\n"
    )
    (tmp_path / "fr.txt").write_bytes(text.encode("cp1252"))
    (tmp_path / "fr_short.txt").write_bytes("Société Générale, Québec.\n".encode("latin-1"))
    russian = "Компания Лайнас сообщила о росте добычи редкоземельных металлов в Малайзии.\n"
    (tmp_path / "ru.txt").write_bytes(russian.encode("cp1251"))
    arts, errs = _split(list(load_inputs([str(tmp_path)], cfg)))
    assert not errs
    assert arts["fr"].text == text
    assert arts["fr_short"].text == "Société Générale, Québec.\n"
    assert "Лайнас" in arts["ru"].text  # not read as Western accents


# --------------------------------------------------------- item 9: clear one-line reasons
def test_bad_json_and_front_matter_give_clear_reasons(tmp_path: Path, cfg: Settings) -> None:
    (tmp_path / "nested.json").write_text("[" * 100_000 + "]" * 100_000)
    (tmp_path / "bigid.json").write_text('{"id": ' + "1" * 100_000 + ', "text": "x"}')
    (tmp_path / "baddate.md").write_text(f"---\npublished: 2025-13-45\n---\n{GOOD}")
    (tmp_path / "nested.jsonl").write_text('{"id": "ok", "text": "fine."}\n' + "[" * 50_000 + "\n")
    (tmp_path / "good.txt").write_text(GOOD)
    arts, errs = _split(list(load_inputs([str(tmp_path)], cfg)))
    reasons = {Path(e.origin).name: e.reason for e in errs}
    assert reasons == {
        "nested.json": "invalid JSON (nested too deeply)",
        "bigid.json": "invalid JSON (Exceeds the limit (4300 digits) for integer string "
                      "conversion)",
        "baddate.md": "front matter 'published' is not a date: '2025-13-45'",
        "nested.jsonl": "line 2: invalid JSON (nested too deeply)",
    }
    assert all("unexpected error" not in r for r in reasons.values())
    assert set(arts) == {"ok", "good"}


def test_repeated_and_non_string_ids_fail_their_records(tmp_path: Path, cfg: Settings) -> None:
    recs = [
        {"id": "a", "text": "First."},
        {"id": "a", "text": "Second, same id."},
        {"id": " ", "text": "Blank id."},
        {"id": ["x"], "text": "List id."},
        {"id": {"k": 1}, "text": "Dict id."},
        {"id": "line\nbreak", "text": "Control characters."},
        {"id": 7, "text": "A number is its digits."},
        {"text": "No id: the file's."},
    ]
    (tmp_path / "recs.json").write_text(json.dumps(recs))
    arts, errs = _split(list(load_inputs([str(tmp_path / "recs.json")], cfg)))
    assert set(arts) == {"a", "7", "recs-8"}
    assert arts["a"].text == "First."
    assert [e.reason for e in errs] == [
        "record 2: id 'a' repeated (first used by record 1); record not loaded",
        "record 3: 'id' is empty",
        "record 4: 'id' must be a string, not list",
        "record 5: 'id' must be a string, not dict",
        "record 6: 'id' contains control characters",
    ]


# ------------------------------------------------------------- item 9: the CLI's error lines
class _LoaderOnly:
    """The real loader and the indexer's failure bookkeeping (it logs each failure)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def ingest(self, inputs, prune=False, progress=None):  # noqa: ARG002 - the service's API
        run = _Run()
        for item in load_inputs(inputs, self.settings):
            if isinstance(item, LoadError):
                run.fail(item.origin, item.reason)
            else:
                run.added.append(item.id)
        return run.result()


@pytest.fixture
def ingest_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "Assistant", _LoaderOnly)
    # as in a real process: nobody has configured logging before main() runs
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    monkeypatch.setattr(logging.getLogger(), "level", logging.WARNING)

    def run(*args: str) -> tuple[int, str, str]:
        code = cli.main(["--index", str(tmp_path / "index"), *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_cli_one_escaped_line_per_failure(tmp_path: Path, ingest_cli) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.txt").write_text(GOOD)
    (docs / "evil\nname\x1b[31m.txt").write_text("")  # empty: fails
    (docs / "nested.json").write_text("[" * 100_000 + "]" * 100_000)
    (docs / "bigid.json").write_text('{"id": ' + "1" * 100_000 + ', "text": "x"}')
    (docs / "baddate.md").write_text(f"---\npublished: 2025-13-45\n---\n{GOOD}")
    (docs / "dups.json").write_text(json.dumps(
        [{"id": "d", "text": "One."}, {"id": "d", "text": "Two."}, {"id": " ", "text": "x"}]
    ))
    (docs / "bomb.md").write_text(ALIAS_BOMB)
    code, out, err = ingest_cli("ingest", "-q", "docs")
    lines = err.splitlines()
    assert code == 1
    assert "failed 7" in out and "added 2" in out
    assert len(lines) == 7, err  # one line per failure: no log warning repeating it
    assert all(line.startswith("error: ") for line in lines)
    assert "\x1b" not in err and "Traceback" not in err and "unexpected error" not in err
    assert any("evil\\nname\\x1b[31m.txt: empty file" in line for line in lines)
    assert any("record 2: id 'd' repeated" in line for line in lines)
    assert any("record 3: 'id' is empty" in line for line in lines)


def test_cli_unexpected_error_is_one_line_without_traceback(ingest_cli, monkeypatch) -> None:
    def boom(self, inputs, prune=False, progress=None):
        raise ValueError("bad\nthing")

    monkeypatch.setattr(_LoaderOnly, "ingest", boom)
    code, _, err = ingest_cli("ingest", "-q", "docs")
    assert code == 1
    assert err.splitlines() == [
        "error: unexpected error: ValueError: bad\\nthing (run with -v for the traceback)"
    ]
    with pytest.raises(ValueError):
        ingest_cli("-v", "ingest", "-q", "docs")


def test_one_line_escapes_controls() -> None:
    assert one_line("plain name.txt") == "plain name.txt"
    assert one_line("a\nb\r\tc\x1b[2J\x7f\u2028") == "a\\nb\\r\\tc\\x1b[2J\\x7f\\u2028"
