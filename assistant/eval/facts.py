"""Key facts of a gold answer and the lexical matching that finds them in a text.

The answer rule: a correct answer holds ALL the key facts of the gold answer.
``key_facts(gold)`` gives (1) every quantity of ``verify.numbers.quantities``
(``3,000 tonnes`` = ``3,000-tonne`` = ``3000 t``; ``RM800 billion`` = ``RM 800bn``), found
when the text holds a quantity of a compatible unit and the same value within the gold's
written precision; (2) every name - a capitalised word that is not a sentence opener such
as "The", "Over", "Near" (months count, so dates are covered by (1) and (2)) - found as a
word, case-insensitively, after :func:`normalize`, possessive ``'s`` dropped and hyphens as
spaces; (3) only when the gold has neither, its content words
(``verify.numbers.content_words``: stop words out, crude stemming), each found among the
text's content words. An item's own ``key_facts`` replace (1)-(3), each phrase matched by
the same rules.

Compromises: the rule is lexical - a correct paraphrase without the number or the name
fails, and an answer that names the fact while saying something else passes; whether a
sentence's first word is a name is decided by a list of openers.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.answer.citations import MARKER
from assistant.verify.numbers import (
    Quantity,
    content_words,
    quantities,
    units_compatible,
    values_close,
)

__all__ = ["KeyFact", "content", "key_facts", "normalize"]

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                         "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u00a0": " "})
_WORDS = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")
_CAP = re.compile(r"\b[A-Z][A-Za-z0-9&'\-]*[A-Za-z0-9]|\b[A-Z]\b")
_OPENERS = frozenset(
    """
    a an the this that these those it its there here he she they we i you yes no not none
    over under about around near nearly almost only some more less most both either each
    in on at by for from with into of to as since after before during between
    consider yesterday today tomorrow foreign prime
    """.split()
)


def _ascii(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).translate(_QUOTES).split())


def normalize(text: str) -> str:
    """``normalize("Lynas’s  3,000–tonne") -> "lynas's 3,000-tonne"`` (NFKC, ASCII quotes and
    dashes, lower case, single spaces)."""
    return _ascii(text).lower()


def content(text: str) -> set[str]:
    """Content words after normalisation, ``[n]`` markers dropped and hyphens as spaces."""
    return content_words(normalize(MARKER.sub(" ", text)).replace("-", " "))


def _words(text: str) -> list[str]:
    """``_words("Lynas's China-plus-one") -> ["lynas", "china", "plus", "one"]``."""
    text = re.sub(r"'s\b", "", normalize(text))
    return _WORDS.findall(text.replace("-", " "))


def _has_phrase(text_words: list[str], phrase: str) -> bool:
    want = _words(phrase)
    if not want:
        return True
    n = len(want)
    return any(text_words[i : i + n] == want for i in range(len(text_words) - n + 1))


def _names(text: str) -> list[str]:
    """Capitalised words that are names: ``_names("Near the Kuantan plant of Lynas.")
    -> ["Kuantan", "Lynas"]``."""
    out = []
    for m in _CAP.finditer(text):
        word = re.sub(r"'s$", "", m.group(0))
        if any(ch.isdigit() for ch in word):  # "RM800", "Q3": numbers handle them
            continue
        if word.lower() in _OPENERS:
            continue
        out.append(word)
    return out


@dataclass(frozen=True)
class KeyFact:
    """One fact of a gold answer: a quantity, a name, a content word, or a given phrase."""

    kind: str  # "quantity" | "name" | "word" | "phrase"
    text: str

    def found_in(self, text: str) -> bool:
        if self.kind == "quantity":
            gold = quantities(self.text)
            have = quantities(_ascii(text))
            return bool(gold) and all(
                any(_same_quantity(g, h) for h in have) for g in gold
            )
        if self.kind == "word":
            return self.text in content_words(normalize(text).replace("-", " "))
        return _has_phrase(_words(text), self.text)


def _same_quantity(gold: Quantity, have: Quantity) -> bool:
    return units_compatible(gold, have) and values_close(gold, have) and (
        not gold.unit or gold.unit == have.unit or gold.kind in ("year", "date")
    )


def key_facts(answer: str, given: Sequence[str] = ()) -> list[KeyFact]:
    """The facts an answer must hold (see the module docstring for the rule).

    ``key_facts("3,000 tonnes, built by Lynas in July.")
    -> [KeyFact("quantity", "3,000 tonnes"), KeyFact("name", "Lynas"), KeyFact("name", "July")]``
    """
    if given:
        facts = []
        for phrase in given:
            kind = "quantity" if quantities(phrase) and not _names(phrase) else "phrase"
            facts.append(KeyFact(kind, phrase))
        return facts
    facts = [KeyFact("quantity", q.text) for q in quantities(answer)]
    facts += [KeyFact("name", n) for n in dict.fromkeys(_names(answer))]
    if not facts:
        words = content_words(normalize(answer).replace("-", " "))
        facts = [KeyFact("word", w) for w in sorted(words)]
    return facts
