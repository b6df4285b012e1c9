"""Section detection: headings split a cleaned article into titled, role-tagged spans.

``detect_sections(text) -> tuple[Section, ...]``: the sections cover the whole text, in order,
without gaps (``sections[0].start == 0``, ``sections[-1].end == len(text)``, each section
starts where the previous one ends). A section's span starts at its heading line, so the
heading text is part of the section (and of its first chunk).

A heading is a line that is
- a markdown heading (``## Bottom Line``), or
- short (at most 12 words, 90 characters), does not end in ``. , ; : ! ?``, is not a list
  item, is not a caption/byline (``Photo: Reuters``, ``By Jane Doe``), starts with a capital
  or digit, is followed by more text, and either names a known
  role (``Bottom Line``) or is in Title Case (``Bias Between the Lines``,
  ``Malaysia's Balancing Act: Between Washington and Beijing``).

Text before the first heading is an untitled ``Body`` section (role ``report``). A summary
section (``Highlights``) that holds a bullet list followed by prose ends after its bullets;
the prose after it becomes a ``Body`` section (role ``report``): the seed articles open with
``Highlights``, three bullets, then the report itself without a heading.

Role map (first matching rule wins; words matched case-insensitively in the heading):

- disputed: shadow, questionable, disputed, unverified, unconfirmed, falls short, doubt,
  caveat, overreach, misleading, claims vs/versus, red flag, what's missing, missing
- bias: bias, framing, spin, slant
- verified: holds true, verified, facts, fact check, what's true, confirmed, checks out
- summary: highlights, key points, key takeaways, summary, tl;dr, at a glance, in brief
- opinion: opinion, commentary, editorial, our view, op-ed
- disclosure: disclosure, disclaimer, about, conflict of interest
- analysis: bottom line, why it matters, analysis, outlook, what's next, implications,
  takeaway, conclusion, what it means, the big picture, the verdict
- report: anything else

Compromise: roles are per section, not per sentence (seed 000's ``Between Pragmatism and
Overreach`` is ``disputed`` as a whole: ``docs/notes/ingest-index-verify.md``).
"""

from __future__ import annotations

import re

from assistant.models import Section

__all__ = ["detect_sections", "heading_role"]

_ROLE_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (role, re.compile(pattern, re.IGNORECASE))
    for role, pattern in (
        (
            "disputed",
            r"shadow|questionable|disputed?\b|unverified|unconfirmed|falls? short|doubt|caveat"
            r"|overreach|misleading|claims? (?:vs\.?|versus)|red flags?|what'?s missing"
            r"|\bmissing\b|\bdubious|\bunproven",
        ),
        ("bias", r"\bbias|\bframing\b|\bspin\b|\bslant"),
        (
            "verified",
            r"holds? true|\bverified\b|\bfacts?\b|fact[- ]check|what'?s true|\bconfirmed\b"
            r"|checks? out|\bholds up\b",
        ),
        (
            "summary",
            r"^(?:highlights?|key (?:points|takeaways|facts)|summary|tl;?dr|at a glance"
            r"|in brief|executive summary)\b",
        ),
        ("opinion", r"\bopinion\b|\bcommentary\b|\beditorial\b|\bour view\b|\bop-ed\b"),
        ("disclosure", r"disclosure|disclaimer|^about\b|conflicts? of interest"),
        (
            "analysis",
            r"bottom line|why (?:it|this) matters|\banalysis\b|\boutlook\b|what'?s next"
            r"|implications?|takeaway|\bconclusions?\b|what (?:it|this) means|big picture"
            r"|\bthe verdict\b",
        ),
    )
)

_MD_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")
_LIST_ITEM = re.compile(r"^(?:[-*•+–—]\s|\d{1,3}[.)]\s)")
# Short title-case lines that are captions or site furniture, not headings.
_NOT_HEADING = re.compile(
    r"^(?:photo|image|picture|source|credit|caption|tags?|related|read|watch|listen|by|via"
    r"|posted|updated|published|filed under|copyright)\b",
    re.IGNORECASE,
)
_SMALL_WORDS = frozenset(
    "a an the and or but nor for of in on at to by with from as vs vs. via into over under"
    " between about after before than is are be its it's".split()
)


def heading_role(title: str) -> str:
    """``heading_role("Where Shadows Appear") -> "disputed"``; unknown headings -> ``report``."""
    t = title.strip().lstrip("#").strip()
    for role, pattern in _ROLE_RULES:
        if pattern.search(t):
            return role
    return "report"


def _is_title_case(line: str) -> bool:
    words = [w for w in re.split(r"[\s/]+", line) if w]
    content = [w for w in words if w.lower().strip("\"'()") not in _SMALL_WORDS]
    if not content:
        return False
    caps = sum(1 for w in content if w.lstrip("\"'(")[:1].isupper() or w[:1].isdigit())
    return caps / len(content) >= 0.75


def _heading_title(line: str) -> str | None:
    """The heading's title if ``line`` (stripped) is a heading, else None."""
    m = _MD_HEADING.match(line)
    if m:
        return m.group(1).strip()
    if len(line) > 90 or len(line.split()) > 12:
        return None
    if line[-1] in ".,;:!?" or _LIST_ITEM.match(line):
        return None
    if _NOT_HEADING.match(line):
        return None
    first = line.lstrip("\"'(")[:1]
    if not (first.isupper() or first.isdigit()):
        return None
    if not any(c.isalpha() for c in line):
        return None
    if heading_role(line) != "report" or _is_title_case(line):
        return line
    return None


def _lines(text: str) -> list[tuple[int, int, str]]:
    out = []
    pos = 0
    for raw in text.split("\n"):
        stripped = raw.strip()
        out.append((pos, pos + len(raw), stripped))
        pos += len(raw) + 1
    return out


def detect_sections(text: str) -> tuple[Section, ...]:
    """Sections of a cleaned article text.

    ``detect_sections("Highlights\\n- a.\\nBody text.\\nBottom Line\\nIt is.")`` ->
    ``(Section("Highlights", "summary", 0, 16), Section("Body", "report", 16, 27),
    Section("Bottom Line", "analysis", 27, 45))``
    """
    if not text:
        return ()
    lines = _lines(text)
    # Indices of non-empty lines that are followed by another non-empty line.
    nonempty = [i for i, ln in enumerate(lines) if ln[2]]
    headings: list[tuple[int, str]] = []  # (line index, title)
    for k, i in enumerate(nonempty):
        if k == len(nonempty) - 1:
            break  # a heading needs something under it
        title = _heading_title(lines[i][2])
        if title is None:
            continue
        nxt = lines[nonempty[k + 1]][2]
        if _heading_title(nxt) is not None and not _MD_HEADING.match(lines[i][2]):
            # Two heading-like lines in a row: the first is a heading only if it names a role
            # (a kicker line followed by the real heading is rare in these sources).
            if heading_role(title) == "report":
                continue
        headings.append((i, title))

    sections: list[Section] = []
    starts = [(lines[i][0], title) for i, title in headings]
    if not starts or starts[0][0] > 0:
        first_end = starts[0][0] if starts else len(text)
        if text[:first_end].strip() or not starts:
            sections.append(Section("Body", "report", 0, first_end))
        else:
            starts[0] = (0, starts[0][1])
    for k, (start, title) in enumerate(starts):
        if not sections and start != 0:
            start = 0
        end = starts[k + 1][0] if k + 1 < len(starts) else len(text)
        role = heading_role(title)
        if role == "summary":
            sections.extend(_split_summary(text, title, start, end))
        else:
            sections.append(Section(title, role, start, end))
    # Make the sections contiguous (an empty leading Body merged away above).
    fixed: list[Section] = []
    for s in sections:
        if fixed and fixed[-1].end != s.start:
            s = Section(s.title, s.role, fixed[-1].end, s.end)
        fixed.append(s)
    return tuple(fixed)


def _split_summary(text: str, title: str, start: int, end: int) -> list[Section]:
    """Split ``Highlights`` + bullets + prose into a summary section and a ``Body`` section."""
    body_lines = _lines(text[start:end])[1:]  # skip the heading line
    seen_bullet = False
    for pos, _, stripped in body_lines:
        if not stripped:
            continue
        if _LIST_ITEM.match(stripped):
            seen_bullet = True
            continue
        if seen_bullet:
            cut = start + pos
            return [Section(title, "summary", start, cut), Section("Body", "report", cut, end)]
        break
    return [Section(title, "summary", start, end)]
