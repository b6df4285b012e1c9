"""The ``[n]`` citation format, defined once: how answers cite their numbered sources.

A cited answer is plain sentences, each ending in one or more markers before its final
punctuation: ``"Lynas makes magnets [1][3]. It is in Pahang [3]."``; a model that finds no
answer in its sources writes exactly :data:`NOT_IN_SOURCES`. Here are the marker pattern
(:data:`MARKER`), the GBNF grammar that makes the local model write only that
(:func:`citation_grammar`), the parser that turns any backend's text into cited claims and
drops numbers that name no source (:func:`parse_answer`), its inverse (:func:`render`), and
the filter that holds back markers while tokens stream (:class:`StreamFilter`).

Compromise: markers are read as ``[1]`` or ``[1, 2]``; other shapes (``[1;2]``, ``[1-3]``)
stay in the text as written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.models import Claim
from assistant.text import split_sentences

__all__ = [
    "NOT_IN_SOURCES",
    "MARKER",
    "MARKER_SPACED",
    "citation_grammar",
    "markers",
    "parse_answer",
    "render",
    "StreamFilter",
]

#: What a model answers (and the grammar allows) when the sources do not answer.
NOT_IN_SOURCES = "NOT_IN_SOURCES"
#: One citation marker, ``[2]`` or ``[1, 3]``; group 1 holds the numbers.
MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")  # [1], [1, 2], [1; 2]
MARKER_SPACED = re.compile(r"\s*" + MARKER.pattern)  # with the space before it
_ONE = re.compile(r"\[(\d+)\]")
_ONE_SPACED = re.compile(r"\s*\[\d+\]")


def markers(numbers: Sequence[int]) -> str:
    """``markers([1, 3]) -> "[1][3]"``."""
    return "".join(f"[{n}]" for n in numbers)


def citation_grammar(numbers: Sequence[int], max_sentences: int = 3) -> str:
    """A GBNF grammar for a cited plain-text answer, or exactly ``NOT_IN_SOURCES``.

    Every sentence is a body (no ``[``, ``]``, line breaks; a dot inside a body must be a
    decimal point between digits, so one body is one sentence) and ends with `` [n]``
    markers then ``.``, where ``n`` is one of ``numbers``: ``citation_grammar([1, 3])`` accepts
    ``"Lynas makes magnets [1][3]. It is in Pahang [3]."`` and rejects ``"... [2]."``.
    """
    if not numbers:
        return f'root ::= "{NOT_IN_SOURCES}"\n'
    nums = " | ".join(f'"{n}"' for n in sorted(set(numbers)))
    more = ' (" " sentence)?' * (max_sentences - 1)
    return (
        f'root ::= "{NOT_IN_SOURCES}" | answer\n'
        f"answer ::= sentence{more}\n"
        'sentence ::= [A-Z0-9"(] bodychar+ " [" num "]" ("[" num "]")* "."\n'
        'bodychar ::= [^.\\[\\]\\n] | [0-9] "." [0-9]\n'
        f"num ::= {nums}\n"
    )


def parse_answer(text: str, n_sources: int) -> tuple[str, list[Claim], list[int]]:
    """Split an answer into cited claims; drop citation numbers that name no source.

    ``parse_answer("Lynas makes magnets [1][9]. It is big.", 2)
    -> ("Lynas makes magnets [1]. It is big.", [Claim("Lynas makes magnets.", [1]),
    Claim("It is big.", [])], [9])``
    """
    invalid: list[int] = []

    def fix(m: re.Match[str]) -> str:
        keep = []
        for part in m.group(1).split(","):
            n = int(part)
            if 1 <= n <= n_sources:
                keep.append(n)
            elif n not in invalid:
                invalid.append(n)
        return " " + markers(keep) if keep else ""

    cleaned = MARKER_SPACED.sub(fix, text.strip())
    cleaned = re.sub(r"[ \t]+([.,;:!?])", r"\1", cleaned)
    claims: list[Claim] = []
    for s, e in split_sentences(cleaned):
        sent = cleaned[s:e]
        nums = [int(x) for x in _ONE.findall(sent)]
        plain = _ONE_SPACED.sub("", sent).strip()
        if not re.search(r"[A-Za-z0-9]", plain):
            # markers alone after the sentence they belong to: "... 2025. [1]"
            if claims and nums:
                claims[-1].citations.extend(n for n in nums if n not in claims[-1].citations)
            continue
        claims.append(Claim(text=plain, citations=list(dict.fromkeys(nums))))
    return cleaned, claims, invalid


def render(claims: Sequence[Claim]) -> str:
    """``render([Claim("Lynas grew.", [1])]) -> "Lynas grew [1]."``"""
    out = []
    for c in claims:
        marks = markers(c.citations)
        if not marks:
            out.append(c.text)
            continue
        body = c.text.rstrip()
        end = body[-1] if body and body[-1] in ".!?" else "."
        out.append(f"{body.rstrip('.!?')} {marks}{end}")
    return " ".join(out)


class StreamFilter:
    """Holds back ``[..]`` markers until closed (dropping invalid ones) and a leading
    ``NOT_IN_SOURCES``, so that streamed tokens never show an invalid citation.

    ``f = StreamFilter(2); f.feed("Lynas grew [") -> "Lynas grew "``;
    ``f.feed("9]. [1]") -> ". [1]"``; ``f.flush()`` returns what is still held.
    """

    def __init__(self, n_sources: int) -> None:
        self.n = n_sources
        self.buf = ""
        self.emitted = ""
        self.abstain = False

    def feed(self, piece: str) -> str:
        self.buf += piece
        if not self.emitted and NOT_IN_SOURCES.startswith(self.buf.strip()[:14]):
            if self.buf.strip().startswith(NOT_IN_SOURCES):
                self.abstain = True
                return ""
            if len(self.buf.strip()) < len(NOT_IN_SOURCES):
                return ""
        if self.abstain:
            return ""
        out = ""
        while self.buf:
            i = self.buf.find("[")
            if i < 0:
                out, self.buf = out + self.buf, ""
                break
            out += self.buf[:i]
            j = self.buf.find("]", i)
            if j < 0:
                self.buf = self.buf[i:]
                if len(self.buf) > 12:  # not a marker after all
                    out, self.buf = out + self.buf, ""
                break
            marker = self.buf[i : j + 1]
            nums = re.findall(r"\d+", marker)
            if nums and all(1 <= int(x) <= self.n for x in nums):
                out += marker
            elif not nums:
                out += marker
            self.buf = self.buf[j + 1 :]
        self.emitted += out
        return out

    def flush(self) -> str:
        if self.abstain:
            return ""
        out, self.buf = self.buf, ""
        self.emitted += out
        return out
