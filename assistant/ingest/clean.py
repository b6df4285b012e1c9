"""Text cleaning: mojibake repair, site boilerplate out, whitespace normalised.

``clean_text(raw) -> str`` is applied to every article body (and ``clean_line`` to titles)
before sections and chunks are cut, so every offset downstream indexes the cleaned text.

Steps, in order:

1. Thai-codepage mojibake (UTF-8 bytes decoded as cp874/TIS-620: ``Malaysiaโs``), which
   ftfy does not know: runs of Thai characters inside mostly Latin text are re-encoded to
   cp874 and decoded as UTF-8 where that round-trips; the punctuation the cp874 decode lost
   (a lone ``โ``) is restored from context (:func:`repair_cp874`; the byte-level story is
   in ``docs/notes/ingest-index-verify.md``). Real Thai (long runs of Thai letters) is left
   alone.
2. ftfy for everything else (latin-1/cp1252 mojibake, HTML entities, control characters).
   **Quotes are normalised to ASCII** (``’ -> '``, ``“ ” -> "``), so a user typing plain
   quotes matches the text; dashes and ellipses are kept.
3. Markup debris: HTML comments and the mangled WordPress block comments of the seeds
   (``©!-- /wp:paragraph -->``), stray tags, ``(opens in a new tab)``.
4. Boilerplate lines (whole line only, so prose is never cut): ``Table of Contents``,
   ``0 Comments``, share/subscribe/follow/newsletter/"read more"/advertisement lines.
5. Whitespace: no-break and other spaces -> space, zero-width characters dropped, runs of
   spaces collapsed, lines stripped, at most one blank line between paragraphs. Line
   structure is kept: headings are on their own lines and section detection relies on it.

Compromise: the boilerplate list is a list; a site with new debris needs a new pattern.
"""

from __future__ import annotations

import html
import logging
import re

import ftfy

logger = logging.getLogger(__name__)

__all__ = ["clean_text", "clean_line", "repair_cp874"]

_THAI = re.compile(r"[\u0e00-\u0e7f]")
_THAI_RUN = re.compile(r"[\u0e00-\u0e7f]+")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
# Characters cp874 produces for UTF-8 bytes: Thai letters, plus the few defined C1 slots.
_CP874_RUN = re.compile(r"[\u0e00-\u0e7f\u00a0€…‘’“”•–—]+")
_LOST_E2 = "\ue000"  # placeholder for a lone 0xE2 lead byte whose continuation was lost


def _lead_len(b: int) -> int:
    if 0xC2 <= b <= 0xDF:
        return 2
    if 0xE0 <= b <= 0xEF:
        return 3
    if 0xF0 <= b <= 0xF4:
        return 4
    return 0


def _fix_run(run: str) -> str:
    try:
        return run.encode("cp874").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    # Only runs made of nothing but lone lead bytes are guessed at; a real Thai word inside
    # English text ("ไทย") does not round-trip either and must stay as it is.
    lone_only = set(run) <= {"โ", "ย"}
    out: list[str] = []
    i = 0
    while i < len(run):
        ch = run[i]
        try:
            b = ch.encode("cp874")
        except UnicodeEncodeError:
            out.append(ch)
            i += 1
            continue
        n = _lead_len(b[0]) if len(b) == 1 else 0
        if n:
            piece = run[i : i + n]
            try:
                out.append(piece.encode("cp874").decode("utf-8"))
                i += n
                continue
            except (UnicodeEncodeError, UnicodeDecodeError):
                pass
            if b[0] == 0xE2 and lone_only:
                out.append(_LOST_E2)
            elif b[0] == 0xC2 and lone_only:
                out.append(" ")  # C2 A0 (no-break space) lost its A0
            else:
                out.append(ch)
            i += 1
            continue
        out.append(ch)
        i += 1
    return "".join(out)


_CONTRACTION = re.compile(r"(?:s|t|d|m|ll|re|ve)(?![^\W\d_])", re.IGNORECASE)


def _resolve_lost_punctuation(text: str) -> str:
    """Replace each lost-``E2`` placeholder with ’ “ ” — or – judged from its neighbours."""
    if _LOST_E2 not in text:
        return text
    out: list[str] = []
    quote_open = False
    n = len(text)
    for i, ch in enumerate(text):
        if ch != _LOST_E2:
            if ch == "\n":
                quote_open = False
            out.append(ch)
            continue
        prev = text[i - 1] if i > 0 else " "
        nxt = text[i + 1] if i + 1 < n else " "
        prev_word = prev.isalnum()
        next_word = nxt.isalnum()
        if prev_word and next_word:
            if prev.isdigit() and nxt.isdigit():
                out.append("–")
            elif prev.isalpha() and _CONTRACTION.match(text, i + 1):
                out.append("’")
            else:
                out.append("—")
        elif prev.isspace() and nxt.isspace():
            out.append("—")
        elif prev.isspace() or prev in "([{" or i == 0:
            out.append("“")
            quote_open = True
        elif quote_open:
            out.append("”")
            quote_open = False
        elif prev in ".,!?;:":
            out.append("”")
        else:
            out.append("’")  # plural possessive: Achillesโ heel
    return "".join(out)


def repair_cp874(text: str) -> str:
    """Undo UTF-8-read-as-cp874 mojibake: ``"Malaysiaโs deal" -> "Malaysia’s deal"``.

    Only when the Thai characters come in short runs (at most 4: one mangled UTF-8 sequence)
    inside a mostly Latin text; real Thai, written without spaces, has long runs.
    """
    runs = _THAI_RUN.findall(text)
    if not runs:
        return text
    if max(len(r) for r in runs) > 4 or sum(map(len, runs)) * 2 > len(_LATIN.findall(text)):
        return text
    fixed = _CP874_RUN.sub(
        lambda m: _fix_run(m.group(0)) if _THAI.search(m.group(0)) else m.group(0), text
    )
    fixed = _resolve_lost_punctuation(fixed)
    logger.debug("repaired cp874 mojibake (%d Thai runs)", len(runs))
    return fixed


_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
# The seeds' WordPress block comments lost their "<" (it became "©" or vanished).
_MANGLED_COMMENT = re.compile(r"[©<]?!--\s*/?wp:[^\n]*?-->|[©<]?!--[^\n]{0,200}?-->")
_TAG = re.compile(
    r"</?(?:[a-zA-Z][a-zA-Z0-9]*)(?:\s+[a-zA-Z_:][-a-zA-Z0-9_:.]*(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]+))?)*\s*/?>"
)
_SCRIPT = re.compile(r"<(script|style)\b.*?</\1\s*>", re.DOTALL | re.IGNORECASE)
_NEW_TAB = re.compile(r"\s*\((?:opens|open) in (?:a )?new (?:tab|window)\)", re.IGNORECASE)
_BOILERPLATE_LINE = re.compile(
    r"""^(?:
        table\ of\ contents
      | contents
      | \d+\ comments?
      | no\ comments(?:\ yet)?
      | leave\ a\ (?:comment|reply)
      | (?:click\ (?:here\ )?to\ )?share(?:\ (?:this|on)\b.*)?:?
      | share\ this\ (?:article|story|post)\b.*
      | (?:click\ (?:here\ )?to\ )?(?:subscribe|sign\ up)\b.{0,80}
      | follow\ us\b.{0,60}
      | (?:facebook|twitter|x|linkedin|whatsapp|email|print|reddit|telegram)
        (?:\s*[|,/·•]\s*(?:facebook|twitter|x|linkedin|whatsapp|email|print|reddit|telegram))*
      | advertisement
      | related\ (?:posts|articles|stories)
      | read\ more\b.{0,60}
      | continue\ reading\b.{0,60}
      | skip\ to\ (?:main\ )?content
      | (?:photo|image)\ credit:?.{0,80}
    )\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
_SPACES = re.compile(r"[ \t\f\v\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_ZERO_WIDTH = re.compile(r"[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x85\u2028\u2029]")


def _fix(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = repair_cp874(text)
    return ftfy.fix_text(text, uncurl_quotes=True, normalization="NFC")


def _strip_markup(text: str) -> str:
    text = _SCRIPT.sub(" ", text)
    text = _HTML_COMMENT.sub(" ", text)
    text = _MANGLED_COMMENT.sub(" ", text)
    text = _TAG.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
    return _NEW_TAB.sub("", text)


def clean_line(text: str) -> str:
    """One-line cleaning (titles): ``"  Lynas&amp;Co   <b>deal</b> " -> "Lynas&Co deal"``."""
    text = _strip_markup(_fix(text))
    text = _ZERO_WIDTH.sub("", text)
    text = _CONTROL.sub(" ", text)
    return _SPACES.sub(" ", text.replace("\n", " ")).strip()


def clean_text(raw: str) -> str:
    """Clean an article body.

    ``clean_text("Malaysiaโs deal (opens in a new tab)\\n\\n\\n0 Comments")
    -> "Malaysia's deal"``
    """
    text = _strip_markup(_fix(raw))
    text = _ZERO_WIDTH.sub("", text)
    text = _CONTROL.sub(lambda m: "\n" if m.group(0) in "\u2028\u2029" else " ", text)
    lines: list[str] = []
    for line in text.split("\n"):
        line = _SPACES.sub(" ", line).strip()
        if line and _BOILERPLATE_LINE.match(line):
            continue
        if line and not any(c.isalnum() for c in line) and len(line) <= 3:
            continue  # lone debris such as "©" or "|"
        if not line:
            if lines and lines[-1] != "":
                lines.append("")
            continue
        lines.append(line)
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines)
