"""Features of one claim against its evidence sentences: what the fitted scorer reads.

``claim_features(claim, sents, passages) -> Features``: ``Features.values`` is a flat
``{name: float}`` (names in :data:`CHEAP`; the judge's readings are added by the verifier
under :data:`JUDGE`) and ``Features.contra`` the index (in ``sents``) of the sentence that
most likely contradicts the claim, for the quote.

The comparisons are structured, slot by slot, between the claim and its closest evidence
sentences (the best by score, and the best few):

- figures: each claim number compared with what it attaches to
  (:func:`assistant.verify.numbers.compare`: match / mismatch / absent; bounds honoured;
  units and rate periods compared), and how firmly a differing figure attaches;
- names: the claim's capitalised names missing from all evidence, and whether a close
  sentence names another party while its passage never uses the claim's name (a swap);
- speakers: whether a close sentence gives the statement to a speaker none of whose name
  words the claim's speaker shares ("said Jane Doe of Acme" vs "Beta's CEO John Roe said");
- months (a date moved within a year), polarity (a "not" / "no" / "non-" on one side
  only), modality (planned, pending, proposed vs done, signed, granted), direction
  (increase vs decrease words) - each read where it bears on words the claim and the
  sentence share, in the best sentence and the other close ones about the claim;
- overlap: cosine of the best sentence, its share of the claim's words, the share of the
  claim's words in no evidence, words of the best sentence replaced in the claim.

None of them decides alone: their weights come from ``scorer.json``, fitted on generated
pairs (``bench/fit_scorer.py``), which also chooses the subset each model reads (the
overlap group is measured, not used: see the fit script).

Compromise: the word classes below are fixed vocabularies of English (negation, modality,
direction), not lists of examples; each group's contribution is measured by the ablation
the fit script prints.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from assistant.models import Passage
from assistant.verify.evidence import Sentence, proper_nouns
from assistant.verify.numbers import bounds_hold, compare, content_words

__all__ = ["Features", "claim_features", "CHEAP", "JUDGE", "polarity", "modality", "speakers"]

#: the features the cheap path computes (no LLM); each fitted model reads a subset
CHEAP = (
    "sim", "coverage", "novel", "best_novel", "replaced",
    "num_match", "num_mismatch", "num_absent", "bound_holds", "num_mismatch_strength",
    "names_missing", "name_swap", "month_mismatch",
    "polarity_mismatch", "planned_claim_only", "planned_evidence_only", "direction_mismatch",
    "speaker_mismatch", "claim_words",
)
#: the judge's readings (local model: probe log-odds)
JUDGE = ("judge",)

_MONTH = re.compile(
    r"\b(January|February|March|April|May|June|July|August|September|October|November|"
    r"December)\b"
)
_NEG = re.compile(
    r"\b(?:not|no|never|none|neither|nor|without|cannot|unable|lack\w*|fail\w*)\b|n't\b"
    r"|\bnon-\w+|\bno\s+longer\b",
    re.IGNORECASE,
)
_PLANNED = re.compile(
    r"\b(?:will|would|plan(?:s|ned|ning)?|expect\w*|aim(?:s|ed|ing)?|intend\w*|propos\w*|"
    r"pending|(?-i:may)|might|could|subject\s+to|prospective|target(?:s|ed|ing)?|"
    r"anticipat\w*|seek\w*|preliminary|conceptual|non-binding|letter\s+of\s+intent|"
    r"memorandum|mou)\b",
    re.IGNORECASE,
)
MODAL_REACH = 6  # a planned marker bears on the shared words this close after it
_UP = re.compile(
    r"\b(?:increas\w*|rise|rises|rose|risen|rising|grow\w*|grew|higher|more|above|over|"
    r"up|expand\w*|rais\w*|gain\w*|jump\w*|surg\w*|boost\w*|larger|exceed\w*|widen\w*)\b",
    re.IGNORECASE,
)
_DOWN = re.compile(
    r"\b(?:decreas\w*|fall|falls|fell|fallen|falling|declin\w*|drop\w*|lower|less|fewer|"
    r"below|under|down|reduc\w*|cut|cuts|shrank|shrink\w*|smaller|narrow\w*|loss\w*)\b",
    re.IGNORECASE,
)
# a statement's speaker: the capitalised words of the clause before a speech verb, or after
# it when the verb follows a quotation ('"...," said Jane Doe') or is "according to"
_SPEECH = re.compile(
    r"\b(?:said|says|told|tells|stated|states|added|adds|noted|notes|commented|explained|"
    r"remarked|described|called|(?i:according)\s+to)\b"
)
_NAME_LINK = frozenset({"of", "at", "and", "&", "de", "for"})
_CLAUSE_END = re.compile(r"[,;:\"\u201c\u201d()]|\s[-\u2013\u2014]\s")
_CAP = re.compile(r"\b[A-Z][A-Za-z0-9&'\-]*")
# job titles are capitalised but name nobody: a fixed class of English words
_TITLES = frozenset(
    """ceo cfo coo cto md chief executive officer president vice chair chairman chairwoman
    director managing minister secretary founder head senior general manager interim deputy
    dr mr mrs ms prof the a an""".split()
)
TOP = 3  # sentences read for the slot comparisons
MONTH_COVERAGE = 0.4  # a month differs in a sentence about the claim: this share of its words
STANCE_COVERAGE = 0.5  # negation / modality / direction are read in close sentences this full


@dataclass
class Features:
    values: dict[str, float] = field(default_factory=dict)
    contra: int = 0  # the sentence most likely to contradict the claim (index in sents)


def polarity(text: str, about: set[str] | None = None) -> int:
    """Negation marks in ``text``: ``polarity("The loan is non-binding") -> 1``. With
    ``about`` (content words), only marks followed within four words by one of them
    count: ``polarity("It holds 16 t but lacks expertise", {"hold"}) -> 0``."""
    if about is None:
        return len(_NEG.findall(text))
    count = 0
    for m in _NEG.finditer(text):
        after = content_words(" ".join(text[m.end():].split()[:4]))
        if m.group(0).lower().startswith("non-"):
            after |= content_words(m.group(0)[4:])
        if after & about:
            count += 1
    return count


def modality(text: str, about: set[str] | None = None) -> int:
    """Planned / possible markers: ``modality("The company plans to build") -> 1``. With
    ``about`` (content words), only markers followed within :data:`MODAL_REACH` words by
    one of them count: in "It owns the mine and will build a mill", ``{"mine"}`` -> 0."""
    if about is None:
        return len(_PLANNED.findall(text))
    count = 0
    for m in _PLANNED.finditer(text):
        after = content_words(" ".join(text[m.end():].split()[:MODAL_REACH]))
        if after & about:
            count += 1
    return count


def _direction(text: str) -> int:
    return (1 if _UP.search(text) else 0) - (1 if _DOWN.search(text) else 0)


def speakers(text: str) -> set[str]:
    """Name words of whoever ``text`` reports as speaking (lower-case, titles left out):
    ``speakers("Acme CEO Jane Doe said output rose") -> {"acme", "jane", "doe"}``;
    ``speakers('"Output rose," said Jane Doe of Acme.') -> {"jane", "doe", "acme"}``."""
    out: set[str] = set()
    for m in _SPEECH.finditer(text):
        before = text[: m.start()]
        cut = max((c.end() for c in _CLAUSE_END.finditer(before)), default=0)
        clause = before[cut:]
        after_quote = before.rstrip().endswith(("\"", "\u201d", ","))
        if m.group(0).lower().startswith("according") or after_quote or not _CAP.search(clause):
            rest = text[m.end():]
            stop = _CLAUSE_END.search(rest)
            kept: list[str] = []  # the name run right after the verb: capitalised words and links
            for w in rest[: stop.start() if stop else len(rest)].split():
                if not (w[:1].isupper() or (kept and w in _NAME_LINK)):
                    break
                kept.append(w)
            clause = " ".join(kept)
        for w in _CAP.findall(clause):
            w = w.lower().removesuffix("'s").strip("'-")
            if len(w) >= 2 and w not in _TITLES:
                out.add(w)
    return out


def _names(text: str) -> set[str]:
    return {n.lower() for n in proper_nouns(text)}


def claim_features(claim: str, sents: Sequence[Sentence], passages: Sequence[Passage]) -> Features:
    """The cheap features (module docstring) of ``claim`` over ranked ``sents``."""
    out = Features()
    v = out.values
    cw = content_words(claim)
    v["claim_words"] = min(len(cw), 40) / 20.0
    if not sents:
        for name in CHEAP:
            v.setdefault(name, 0.0)
        v["novel"] = 1.0
        v["best_novel"] = 1.0
        return out
    best = sents[0]
    top = list(sents[:TOP])
    v["sim"] = best.sim
    v["coverage"] = best.coverage
    titles = {passages[s.passage].chunk.title for s in sents}
    have = content_words(" ".join([*titles, *(s.text for s in sents)]))
    v["novel"] = sum(w not in have for w in cw) / len(cw) if cw else 0.0
    best_words = content_words(best.text)
    v["best_novel"] = sum(w not in best_words for w in cw) / len(cw) if cw else 0.0
    # words of the claim not in the best sentence while the rest matches: a substitution
    v["replaced"] = v["best_novel"] * best.coverage

    checks = compare(claim, [s.text for s in sents[:8]], best=0)
    statuses = [c.status for c in checks]
    v["num_match"] = float(bool(statuses) and all(s == "match" for s in statuses))
    v["num_mismatch"] = float("mismatch" in statuses)
    v["num_absent"] = float("absent" in statuses)
    v["bound_holds"] = float(bounds_hold(checks))
    # how firmly a differing figure attaches to the claim's: shared context words (+1 for
    # the same unit), a unit or period swap counts fully
    v["num_mismatch_strength"] = min(
        max((c.strength for c in checks if c.status == "mismatch"), default=0.0), 4.0
    ) / 4.0
    mism = [c.sentence for c in checks if c.status == "mismatch" and c.sentence >= 0]

    claim_names = _names(claim)
    evidence_low = " ".join([*titles, *(s.text for s in sents)]).lower()
    missing = {n for n in claim_names if n not in evidence_low}
    v["names_missing"] = len(missing) / len(claim_names) if claim_names else 0.0
    swap_at = -1
    for i, s in enumerate(top):
        # a name of the claim that the passage holding a close sentence never uses, while
        # that sentence names another party: "Rio Tinto agreed to buy" vs "Glencore agreed"
        chunk = passages[s.passage].chunk
        here = f"{chunk.title} {chunk.text}".lower()
        absent_here = {n for n in claim_names if n not in here}
        extra = _names(s.text) - claim_names
        if absent_here and extra and s.coverage >= 0.5:
            swap_at = i
            break
    v["name_swap"] = float(swap_at >= 0)

    cm = set(_MONTH.findall(claim))
    month_at = -1
    for i, s in enumerate(top):
        em = set(_MONTH.findall(s.text))
        if cm and em and not cm & em and s.coverage >= MONTH_COVERAGE:
            month_at = i
            break
    v["month_mismatch"] = float(month_at >= 0)

    # a negation counts where it bears on words the claim and the sentence share; the
    # best sentence and any other close one about the claim are read (the sentence that
    # says "non-binding" or "pending" is not always the best ranked)
    stance_at = {"polarity_mismatch": -1, "planned_claim_only": -1,
                 "planned_evidence_only": -1, "direction_mismatch": -1}
    for i, s in enumerate(top):
        if i and s.coverage < STANCE_COVERAGE:
            continue
        shared = cw & content_words(s.text)
        pol_c = polarity(claim, shared) > 0
        mod_c = modality(claim, shared) > 0
        mod_e = modality(s.text, shared) > 0
        dc, de = _direction(claim), _direction(s.text)
        found = {
            "polarity_mismatch": (polarity(s.text, shared) > 0) != pol_c,
            "planned_claim_only": mod_c and not mod_e,
            "planned_evidence_only": mod_e and not mod_c,
            "direction_mismatch": dc != 0 and de != 0 and dc != de,
        }
        for name, hit in found.items():
            if hit and stance_at[name] < 0:
                stance_at[name] = i
    for name, at in stance_at.items():
        v[name] = float(at >= 0)

    # the claim reports someone speaking; a close sentence reports the statement as made by
    # another speaker, none of whose name words are the claim's
    said_by = speakers(claim)
    speaker_at = -1
    for i, s in enumerate(top if said_by else []):
        if i and s.coverage < STANCE_COVERAGE:
            continue
        theirs = speakers(s.text)
        if theirs and not theirs & said_by:
            speaker_at = i
            break
    v["speaker_mismatch"] = float(speaker_at >= 0)

    for at in (mism[0] if mism else -1, swap_at, month_at, *stance_at.values(), speaker_at):
        if at >= 0:
            out.contra = at
            break
    return out
