"""The Slack bot's pure parts: Block Kit limits, flags and escaping, token masking, secret
settings (tests/integration/test_slack.py runs the bot against a fake Slack API)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from assistant.config import Settings, reveal
from assistant.models import Claim, Evidence, Verdict
from assistant.slack import blocks as kit
from assistant.slack.infra import TokenMaskingFilter, mask_tokens
from tests.unit.fakes import APP_TOKEN, BOT_TOKEN, SECRET, canned_answer


# ---- formatting and secrets ----------------------------------------------------------------------
def test_long_answers_respect_slack_limits() -> None:
    answer = canned_answer("q")
    sentence = "Lynas and JS Link plan a 3,000-tonne magnet plant in Pahang [1]. "
    answer.text = sentence * 300 + "\n\n" + "x" * 7000  # ~26,000 chars
    answer.claims = [Claim(f"Unbacked sentence {i} [1].", [1],
                           Verdict("unsupported", 0.5)) for i in range(120)]
    blocks = kit.answer_blocks(answer, feedback_value="k")
    for block in blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= kit.MAX_SECTION_CHARS
    text_in = "".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    assert text_in.count("3,000-tonne") == 300  # nothing lost when splitting
    pages = kit.paginate(blocks)
    assert len(pages) >= 3 and all(len(p) <= kit.MAX_BLOCKS for p in pages)
    assert pages[-1][-1]["type"] == "context_actions"
    tight = kit.paginate(blocks, max_messages=2)
    assert len(tight) == 2 and kit.TRIM_NOTE in json.dumps(tight[-1])
    assert tight[-1][-1]["type"] == "context_actions"
    assert len(kit.fallback_text(answer.text)) <= kit.FALLBACK_CHARS
    assert kit.fallback_text(answer.text).endswith("(trimmed)")


def test_flags_and_escaping() -> None:
    ev = Evidence("c", "a", "output was 3,000 t", 0, 18, title="T", source_number=2)
    contradicted = Claim("Output was 9,000 t <b> [2].", [2],
                         Verdict("contradicted", 0.9, evidence=(ev,), conflicting=(ev,)))
    line = kit.flag_line(contradicted)
    assert line is not None and line.startswith(":x: contradicted by [2]: “output was 3,000 t”")
    assert "&lt;b&gt;" in line and "<b>" not in line
    assert kit.flag_line(Claim("ok", verdict=Verdict("supported", 1.0))) is None
    assert kit.link("https://x.org/a|b", "A|B>") == "<https://x.org/a%7Cb|A¦B&gt;>"
    assert kit.link("", "Title") == "Title"
    # the checker's sentence may lack the [n] that the answer text carries before the period
    moved = Claim("Lynas is partnering with JS Link on magnets.", [3],
                  Verdict("unsupported", 0.5))
    text = "Lynas is partnering with JS Link on magnets [3]. Malaysia holds reserves [1]."
    assert kit.mark_sentences(text, [moved]) == (
        "Lynas is partnering with JS Link on magnets [3]. :warning: Malaysia holds reserves [1].")


def test_tokens_are_masked_in_logs() -> None:
    assert mask_tokens(f"using {BOT_TOKEN} and {APP_TOKEN}") == "using xoxb-*** and xapp-***"
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token=%s", (BOT_TOKEN,), None)
    assert TokenMaskingFilter().filter(record)
    assert record.getMessage() == "token=xoxb-***"


def test_secret_settings_never_show_in_repr_or_dumps(tmp_path: Path) -> None:
    s = Settings(_env_file=None, index_dir=tmp_path, slack_bot_token=BOT_TOKEN,
                 slack_app_token=APP_TOKEN, slack_signing_secret=SECRET,
                 openai_api_key="sk-secret", auth_password="pw-secret")
    shown = repr(s) + str(s.model_dump()) + s.model_dump_json()
    for secret in (BOT_TOKEN, APP_TOKEN, SECRET, "sk-secret", "pw-secret"):
        assert secret not in shown
    assert reveal(s.slack_bot_token) == BOT_TOKEN and reveal(s.auth_password) == "pw-secret"
    assert reveal(None) is None and reveal("plain") == "plain"
