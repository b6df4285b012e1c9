"""The answer chain: condense -> retrieve -> gate -> prompt -> LLM -> parse [n] -> verify.

``AnswerChain(retriever, chat_model, verifier, settings, embedder=...)``;
``stream(question, history, filters)`` yields ``StreamEvent``s (status lines, answer tokens,
then the final ``Answer``); ``answer(...)`` returns the ``Answer``. Generation is an LCEL
runnable (``ChatPromptTemplate | chat model | StrOutputParser``), the orchestration around
it is plain Python because it streams status lines and keeps typed records.

Design, against what a 1.5B model does when used naively (STACK.md):

- Abstention is decided before the LLM is called by the learned answerability gate
  (:mod:`assistant.answer.gate`: cross-encoder relevance, sentence similarity and how much of the
  question the passages cover, weighed by a fitted logistic regression). Below its
  threshold the answer is "The sources do not say ..." with the nearest sources, and no
  generation happens. After generation, an answer all of whose sentences the verifier
  finds unsupported is withheld the same way (its notice says so): an unanswerable question
  must not come back as a cited, invented figure. A contradicted sentence is shown, flagged
  with the sentence that contradicts it.
- Every sentence carries source numbers by construction on the local backend: a GBNF grammar
  (``llm.citation_grammar``) allows only cited sentences ending in ``[n].`` with ``n`` among
  the sources shown, or exactly ``NOT_IN_SOURCES``. Other backends are parsed and repaired:
  numbers that name no source are removed and listed in ``Answer.invalid_citations``; a
  sentence left without a valid number has no citations and is flagged by verification.
- Short prompts: each source shows its best 1-2 sentences (``extractive.rank_sentences``),
  not the whole chunk; fixed instructions come first so llama.cpp reuses their KV cache.
- Sources are data: a delimited block, and sentences that read like instructions to an
  assistant never reach the prompt or a quote.
- Disputed/bias passages are marked DOUBTED in the prompt, so the model can say who doubts
  what. No sentence is rewritten after generation: a sentence that repeats a doubted claim
  as fact is flagged by verification (a doubting passage never backs it).
- Condense: a follow-up ("And who is the Korean partner?") is retrieved together with the
  previous user question; the prompt shows the earlier question as context. No LLM call
  (an LLM rewrite would cost a few seconds on 2 cores for little gain here).

Compromises: one retrieval per question (no query rewriting); the openai backend gets no
grammar (endpoints differ in how they take one).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from langchain_core.output_parsers import StrOutputParser
from langchain_core.runnables import Runnable

from assistant.answer.gate import ANSWER_SENTENCES
from assistant.answer.prompts import answer_prompt, source_line
from assistant.answer.rank import (
    RELEVANCE_FLOOR,
    ScoredSentence,
    answer_candidates,
    cite,
    encode_cached,
    pick_extractive,
    rank_sentences,
    words,
)
from assistant.errors import ModelError
from assistant.llm.local import NOT_IN_SOURCES, citation_grammar
from assistant.models import (
    DOUBTING_ROLES,
    Answer,
    Citation,
    Claim,
    Filters,
    Passage,
    Source,
    StreamEvent,
    Turn,
    final_answer,
)
from assistant.rerank import rerank
from assistant.text import split_sentences

logger = logging.getLogger(__name__)

NO_FILTERS = Filters()

#: Prompt budget for source sentences (characters; ~4 characters a token).
SOURCE_CHAR_BUDGET = 1100
MAX_PROMPT_SOURCES = 4
#: passages retrieved for the cross-encoder to order; the best ``top_k`` are read. On the
#: development set's paraphrased questions, ordering 10 by the cross-encoder lifts article
#: recall@5 (figures in the closing note); about 0.3 s a question on one thread
RERANK_POOL = 10
SENTENCES_PER_SOURCE = 2
#: Notice of an answer none of whose sentences the sources back or address (not shown).
WITHHELD = "A draft answer was withheld: none of its sentences is backed by the sources."
#: Sentences the grammar allows in a generated answer (short answers: ~12 tokens/s on 2 cores).
MAX_SENTENCES = 2
_MARKER = re.compile(r"\s*\[(\d+(?:\s*,\s*\d+)*)\]")
_FOLLOW_UP = re.compile(
    r"^(and|but|also|what about|how about|so|then)\b|\b(it|its|they|their|them|that|this|"
    r"those|these|he|she|his|her|the same|there)\b",
    re.IGNORECASE,
)
_NAME = re.compile(r"(?<=\w)\s+(?!I\b)[A-Z][\w-]*")  # a capitalised word not first
_REFUSAL = re.compile(r"\s*(the )?sources do not (say|answer|mention)[^\[]*$", re.IGNORECASE)


# ---- condense ----------------------------------------------------------------------------------
def condense(question: str, history: Sequence[Turn]) -> tuple[str, str]:
    """``(retrieval query, earlier question or "")`` for a question with chat history.

    ``condense("And who is the Korean partner?", [Turn("user", "How big is the Pahang
    plant?")]) -> ("How big is the Pahang plant? And who is the Korean partner?",
    "How big is the Pahang plant?")``. A question that does not look like a follow-up (no
    leading "and"/"what about", no pronoun, and either more than 8 words or a name of its
    own, e.g. "Is the Pahang facility already underway?") stands alone.
    """
    earlier = next((t.text.strip() for t in reversed(history) if t.role == "user"), "")
    if not earlier:
        return question, ""
    short_and_nameless = len(question.split()) <= 8 and not _NAME.search(question)
    if not (_FOLLOW_UP.search(question) or short_and_nameless):
        return question, ""
    return f"{earlier} {question}", earlier


# ---- citation repair helpers ------------------------------------------------------------
def _haystack(passages: Sequence[Passage]) -> set[str]:
    hay: set[str] = set()
    for p in passages:
        c = p.chunk
        meta = f"{c.text} {c.title} {c.source} {c.section}"
        if c.published:
            meta += f" {c.published.isoformat()} {c.published.year}"
        for w in words(meta.replace("-", " ")):
            hay.add(w)
            if not w[0].isdigit():
                hay.add(w[:5])
    return hay


def does_not_say(missing: Sequence[str]) -> str:
    """``does_not_say(["gallium", "2023"]) -> 'The sources do not say anything about
    "gallium" or "2023".'``"""
    if not missing:
        return "The sources do not say; the nearest sources are listed below."
    quoted = [f'"{m}"' for m in missing]
    joined = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
    return f"The sources do not say anything about {joined}."


# ---- parsing -----------------------------------------------------------------------------------
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
        return " " + "".join(f"[{n}]" for n in keep) if keep else ""

    cleaned = _MARKER.sub(fix, text.strip())
    cleaned = re.sub(r"[ \t]+([.,;:!?])", r"\1", cleaned)
    claims: list[Claim] = []
    for s, e in split_sentences(cleaned):
        sent = cleaned[s:e]
        nums = [int(x) for x in re.findall(r"\[(\d+)\]", sent)]
        plain = re.sub(r"\s*\[\d+\]", "", sent).strip()
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
        marks = "".join(f"[{n}]" for n in c.citations)
        if not marks:
            out.append(c.text)
            continue
        body = c.text.rstrip()
        end = body[-1] if body and body[-1] in ".!?" else "."
        out.append(f"{body.rstrip('.!?')} {marks}{end}")
    return " ".join(out)


def _claim_terms(text: str) -> list[str]:
    """Figures and proper names of a sentence (not its first word), lower-case:
    ``_claim_terms("JS Link targets 3,000 tonnes in Pahang.") -> ["link", "3000", "pahang"]``."""
    toks = re.findall(r"[A-Za-z][A-Za-z0-9\-]*|\d[\d,.]*\d|\d", text)
    out: list[str] = []
    for i, tok in enumerate(toks):
        w = words(tok)
        if not w:
            continue
        if tok[0].isdigit() or (i > 0 and tok[0].isupper()):
            if w[0] not in out and w[0] not in {"i", "a"}:
                out.append(w[0])
    return out


class _StreamFilter:
    """Holds back ``[..]`` markers until closed (dropping invalid ones) and a leading
    ``NOT_IN_SOURCES``, so that streamed tokens never show an invalid citation."""

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


def _header(p: Passage) -> str:
    c = p.chunk
    title = c.title if len(c.title) <= 48 else c.title[:45].rstrip() + "..."
    role = "DOUBTED" if c.role in DOUBTING_ROLES else c.role
    parts = [title, c.source, c.published.isoformat() if c.published else "", role]
    return "; ".join(p for p in parts if p)


class AnswerChain:
    """Question (+ history, filters) -> streamed, cited, verified :class:`Answer`."""

    def __init__(
        self,
        retriever: Any,
        chat_model: Any | None,
        verifier: Any | None,
        settings: Any,
        embedder: Any = None,
        backend: str = "local",
        notice: str = "",
        gate: Any = None,
        reranker: Any = None,
    ) -> None:
        self.retriever = retriever
        self.gate = gate
        self.reranker = reranker
        self.chat_model = chat_model
        self.verifier = verifier
        self.settings = settings
        self.embedder = embedder if embedder is not None else retriever.embedder
        self.backend = backend if chat_model is not None else "extractive"
        self.notice = notice
        self.prompt = answer_prompt()

    # ---- LCEL ----------------------------------------------------------------------------
    def generation(self, allowed: Sequence[int]) -> Runnable:
        """``prompt | model | StrOutputParser()``; the local model is bound to the grammar."""
        model = self.chat_model
        assert model is not None, "the extractive backend has no generation step"
        if getattr(model, "supports_grammar", False):
            model = model.bind(grammar=citation_grammar(allowed, max_sentences=MAX_SENTENCES))
        return self.prompt | model | StrOutputParser()

    def warm(self) -> None:
        """Evaluate the fixed instructions once (e.g. at start-up, in a background thread), so
        the first question only pays for its own sources and question. Local backend only."""
        model = self.chat_model
        warm = getattr(model, "warm", None)
        if warm is not None:
            warm(self.prompt.invoke({"sources": "", "context": "", "question": ""}).to_messages())

    # ---- public API ------------------------------------------------------------------------
    def answer(
        self, question: str, history: Sequence[Turn] = (), filters: Filters = NO_FILTERS
    ) -> Answer:
        return final_answer(self.stream(question, history, filters))

    def stream(
        self, question: str, history: Sequence[Turn] = (), filters: Filters = NO_FILTERS
    ) -> Iterator[StreamEvent]:
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        query, earlier = condense(question, history)
        yield StreamEvent("status", "Searching the sources...")
        top_k = int(self.settings.top_k)
        pool = max(top_k, RERANK_POOL) if self.reranker is not None else top_k
        passages = list(self.retriever.retrieve(query, k=pool, filters=filters))
        relevance: list[float] | None = None
        if self.reranker is not None and passages:
            try:
                passages, relevance = rerank(
                    self.reranker, f"{earlier} {question}".strip(), passages, top_k
                )
            except ModelError as exc:
                logger.warning("cross-encoder unavailable, passages keep retrieval order: %s",
                               exc)
                self.reranker = None
                passages = passages[:top_k]
        timings["retrieve"] = time.perf_counter() - t0
        answer = Answer(
            question=question,
            text="",
            standalone_question=query,
            backend=self.backend,
            notice=self.notice,
            timings=timings,
        )
        if not passages:
            answer.text = "The sources do not say: no article matches this question."
            answer.abstained = True
            timings["total"] = time.perf_counter() - t0
            yield StreamEvent("token", answer.text)
            yield StreamEvent("answer", answer=answer)
            return

        t = time.perf_counter()
        ranked = rank_sentences(question, passages, self.embedder, context=earlier)
        sources, shown = self._number_sources(passages, ranked, relevance)
        answer.sources = sources
        timings["select"] = time.perf_counter() - t

        # Gate: abstain without calling the LLM when the sources cannot answer.
        best = max((r.similarity for r in ranked), default=0.0)
        if self.gate is not None:
            t = time.perf_counter()
            feats, missing = self.gate.features(
                question, passages, best, self.embedder.count_tokens, context=earlier,
                relevance=relevance,
                candidates=answer_candidates(question, ranked, ANSWER_SENTENCES),
            )
            ok, p = self.gate.decide(feats)
            timings["gate"] = time.perf_counter() - t
            if not ok:
                logger.info("abstaining before generation: P(answerable) %.2f, missing %s",
                            p, missing)
                yield from self._abstain(answer, missing, t0)
                return
        elif best < RELEVANCE_FLOOR:
            yield from self._abstain(answer, [], t0)
            return

        yield StreamEvent("status", f"Reading {len(passages)} passages...")
        text = ""
        if self.chat_model is not None:
            try:
                text = yield from self._generate(question, earlier, sources, shown, answer)
            except ModelError as exc:
                logger.warning("local model unavailable, answering extractively: %s", exc)
                answer.backend = "extractive"
                answer.notice = (
                    f"The language model could not be loaded ({exc}); this answer is made of "
                    "sentences quoted from the sources."
                )
                text = ""
                self.chat_model = None
        if self.chat_model is None:
            t = time.perf_counter()
            text = self._extractive(ranked, sources)
            timings["generate"] = time.perf_counter() - t
            if text:
                timings.setdefault("first_token", time.perf_counter() - t0)
                yield StreamEvent("token", text)

        if not text.strip() or text.strip().startswith(NOT_IN_SOURCES) or _REFUSAL.match(text):
            yield from self._abstain(answer, [], t0)
            return
        _, claims, invalid = parse_answer(text, len(sources))
        self._repair_citations(claims, sources)
        answer.text = render(claims)
        answer.claims, answer.invalid_citations = claims, invalid
        answer.citations = self._citations(claims, sources, ranked)
        yield from self._verify(answer, sources)
        if answer.claims and all(
            c.verdict is not None and c.verdict.label == "unsupported" for c in answer.claims
        ):
            # no sentence is backed and none is even about what the sources say (a
            # contradicted one is shown, flagged with its quote): an invented figure must not
            # reach the reader
            logger.info("no sentence of the draft is backed by the sources: abstaining")
            answer.notice = (answer.notice + " " if answer.notice else "") + WITHHELD
            yield from self._abstain(answer, [], t0)
            return
        timings["total"] = time.perf_counter() - t0
        yield StreamEvent("answer", answer=answer)

    # ---- steps -------------------------------------------------------------------------------
    def _number_sources(
        self,
        passages: Sequence[Passage],
        ranked: Sequence[ScoredSentence],
        relevance: Sequence[float] | None = None,
    ) -> tuple[list[Source], dict[int, list[ScoredSentence]]]:
        """Number the passages (best evidence first: by cross-encoder ``relevance`` when
        there is one, else by their best sentence) and choose the sentences to show.

        Returns the sources and, for the first few, the sentences the prompt shows
        (``{source number: [sentences in text order]}``) within the character budget.
        """
        best: dict[int, float] = {}
        for r in ranked:
            best.setdefault(r.passage_index, r.score)
        if relevance is not None and len(relevance) == len(passages):
            order = sorted(range(len(passages)), key=lambda i: -relevance[i])
        else:
            order = sorted(range(len(passages)), key=lambda i: -best.get(i, -1.0))
        number = {pi: n for n, pi in enumerate(order, start=1)}
        for r in ranked:
            r.passage_index = number[r.passage_index]  # now the 1-based source number
        sources = [Source(n, passages[pi]) for n, pi in enumerate(order, start=1)]
        shown: dict[int, list[ScoredSentence]] = {}
        budget = SOURCE_CHAR_BUDGET
        for r in ranked:
            n = r.passage_index
            if n not in shown and len(shown) >= MAX_PROMPT_SOURCES:
                continue
            if len(shown.get(n, [])) >= SENTENCES_PER_SOURCE:
                continue
            if len(r.text) > budget:
                continue
            if shown and r.score < 0.5 * ranked[0].score:
                break
            shown.setdefault(n, []).append(r)
            budget -= len(r.text)
        for sents in shown.values():
            sents.sort(key=lambda r: r.start)
        return sources, dict(sorted(shown.items()))

    def _generate(
        self,
        question: str,
        earlier: str,
        sources: Sequence[Source],
        shown: dict[int, list[ScoredSentence]],
        answer: Answer,
    ) -> Any:
        """Stream the LLM's tokens as events; return the full text (a generator's value)."""
        timings = answer.timings
        lines = [
            source_line(n, _header(sources[n - 1].passage), " ".join(r.text for r in sents))
            for n, sents in shown.items()
        ]
        context = f"(Earlier question, for context: {earlier})\n" if earlier else ""
        inputs = {"sources": "\n".join(lines), "context": context, "question": question}
        yield StreamEvent("status", "Writing the answer...")
        flt = _StreamFilter(len(sources))
        t = time.perf_counter()
        t_start = answer.timings.get("retrieve", 0.0) + answer.timings.get("select", 0.0)
        text = ""
        for piece in self.generation(list(shown)).stream(inputs):
            text += piece
            out = flt.feed(piece)
            if out:
                timings.setdefault("first_token", t_start + time.perf_counter() - t)
                yield StreamEvent("token", out)
        rest = flt.flush()
        if rest:
            yield StreamEvent("token", rest)
        timings["generate"] = time.perf_counter() - t
        timings.setdefault("first_token", t_start + timings["generate"])
        logger.debug("generated: %r", text)
        return text

    def _extractive(self, ranked: Sequence[ScoredSentence], sources: Sequence[Source]) -> str:
        picked = pick_extractive(ranked)
        return " ".join(cite(r.text, [r.passage_index]) for r in picked)

    def _abstain(self, answer: Answer, missing: Sequence[str], t0: float) -> Iterator[StreamEvent]:
        answer.abstained = True
        answer.text = does_not_say(missing)
        answer.claims = []
        answer.citations = []
        answer.timings["total"] = time.perf_counter() - t0
        answer.timings.setdefault("first_token", answer.timings["total"])
        yield StreamEvent("token", answer.text)
        yield StreamEvent("answer", answer=answer)

    def _repair_citations(self, claims: list[Claim], sources: Sequence[Source]) -> None:
        """Move a citation to the source that holds the sentence's names and figures.

        A small model sometimes cites a neighbouring source: "JS Link is the Korean partner
        [3]" where only [1] names JS Link. If the cited source lacks some of the claim's
        figures or proper names and another source holds all of them, the number is replaced.
        Claims whose terms no source holds keep their numbers (verification flags them).
        """
        texts = [s.chunk.text for s in sources]
        hays = [_haystack([s.passage]) for s in sources]
        for claim in claims:
            terms = _claim_terms(claim.text)
            if not terms or not claim.citations:
                continue

            def cover(i: int, terms: list[str] = terms) -> float:
                hay = hays[i]
                return sum(1 for t in terms if t in hay or t[:5] in hay) / len(terms)

            fixed: list[int] = []
            for n in claim.citations:
                if cover(n - 1) < 1.0:
                    full = [i + 1 for i in range(len(texts)) if cover(i) == 1.0]
                    if full:
                        m = next((x for x in full if x not in claim.citations), full[0])
                        logger.info("citation [%d] -> [%d] for %r", n, m, claim.text)
                        n = m
                if n not in fixed:
                    fixed.append(n)
            claim.citations = fixed

    def _citations(
        self,
        claims: Sequence[Claim],
        sources: Sequence[Source],
        ranked: Sequence[ScoredSentence],
    ) -> list[Citation]:
        """For each cited number, the verbatim passage sentence that best matches the claim."""
        by_source: dict[int, list[ScoredSentence]] = {}
        for r in ranked:
            by_source.setdefault(r.passage_index, []).append(r)
        cited_claims = [c for c in claims if c.citations]
        if not cited_claims:
            return []
        vecs = encode_cached(self.embedder, [c.text for c in cited_claims])
        out: list[Citation] = []
        seen: set[tuple[int, int, int]] = set()
        for claim, vec in zip(cited_claims, vecs, strict=True):
            claim_nums = {w for w in words(claim.text) if w[0].isdigit()}
            for n in claim.citations:
                chunk = sources[n - 1].chunk
                cands = by_source.get(n, [])
                if cands:
                    fits = [
                        float(r.vector @ vec)
                        + 0.3 * len(claim_nums & {w for w in words(r.text) if w[0].isdigit()})
                        for r in cands
                    ]
                    r = cands[int(np.argmax(fits))]
                    start, end = r.start, r.end
                else:  # no usable sentence: quote the chunk's first sentence
                    spans = split_sentences(chunk.text) or [(0, len(chunk.text))]
                    start, end = spans[0]
                key = (n, start, end)
                if key in seen:
                    continue
                seen.add(key)
                out.append(
                    Citation(n, chunk.id, chunk.article_id, chunk.text[start:end], start, end)
                )
        return out

    def _verify(self, answer: Answer, sources: Sequence[Source]) -> Iterator[StreamEvent]:
        if not (self.verifier is not None and getattr(self.settings, "verify", True)):
            return
        if not answer.claims:
            return
        yield StreamEvent("status", f"Checking {len(answer.claims)} sentences...")
        t = time.perf_counter()
        passages = [s.passage for s in sources]
        try:
            for claim in answer.claims:
                claim.verdict = self.verifier.check(claim.text, passages, tuple(claim.citations))
        except Exception as exc:  # noqa: BLE001 - reported on the answer, logged in full
            logger.exception("claim checking failed")
            answer.notice = (answer.notice + " " if answer.notice else "") + (
                f"The sentences could not be checked ({exc})."
            )
        answer.timings["verify"] = time.perf_counter() - t

