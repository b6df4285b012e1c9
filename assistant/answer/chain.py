"""The answer chain: condense -> retrieve -> rerank -> gate -> prompt -> LLM -> [n] -> verify.

``AnswerChain(retriever, chat_model, verifier, settings, embedder=..., gate=..., reranker=...)``;
``stream(question, history, filters)`` yields ``StreamEvent``s (status lines, answer tokens,
then the final ``Answer``); ``answer(...)`` returns that ``Answer``. Generation is an LCEL
runnable (prompt | chat model | ``StrOutputParser``); the orchestration around it is plain
Python because it streams status lines and keeps typed records.

Contract: the answerability gate (:mod:`assistant.answer.gate`) decides abstention before
any LLM call; the local model can only write cited sentences or ``NOT_IN_SOURCES``
(:mod:`assistant.answer.citations`); an answer none of whose sentences the verifier finds
backed is withheld, never shown. Without a chat model, or when the local model cannot load,
the answer is the best source sentences quoted verbatim (the ``extractive`` backend).

Time (:mod:`assistant.answer.timeframe`): a named period narrows the date filters (against
the newest article's date, never the wall clock; when the gate finds nothing answerable in
it, the question is answered from the whole index, newest first); "the latest" prefers
newer passages' sentences, and the extractive answer adds an older source's differing
figure as "Earlier, ... [n]". ``Answer.as_of``: the newest date among the cited sources.

Compromises: one retrieval per question (no LLM query rewrite: a follow-up is retrieved
together with the previous question); the openai backend gets no grammar, so its answer is
parsed and repaired instead. Design notes: ``docs/notes/answer.md``.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import Any

from langchain_core.output_parsers import StrOutputParser
from langchain_core.runnables import Runnable

from assistant.answer.citations import (
    NOT_IN_SOURCES,
    StreamFilter,
    citation_grammar,
    parse_answer,
    render,
)
from assistant.answer.gate import ANSWER_SENTENCES
from assistant.answer.prompts import LATEST_NOTE, answer_prompt
from assistant.answer.rank import (
    RELEVANCE_FLOOR,
    ScoredSentence,
    answer_candidates,
    cite,
    earlier_figure,
    earlier_sentence,
    pick_extractive,
    rank_sentences,
)
from assistant.answer.sources import (
    number_sources,
    preview_sources,
    quote_citations,
    repair_citations,
    source_block,
)
from assistant.answer.timeframe import TimeFrame, as_of, newest_date, resolve
from assistant.errors import ModelError
from assistant.models import (
    Answer,
    Filters,
    Passage,
    Source,
    StreamEvent,
    Turn,
    final_answer,
)
from assistant.rerank import rerank

logger = logging.getLogger(__name__)

NO_FILTERS = Filters()

#: passages retrieved for the cross-encoder to order; the best ``top_k`` are read (lifts
#: article recall@5 on paraphrased questions; figures in docs/notes/answer.md)
RERANK_POOL = 10
#: Notice of an answer none of whose sentences the sources back or address (not shown).
WITHHELD = "A draft answer was withheld: none of its sentences is backed by the sources."
#: the status line when the answer writer is still loading (right after start-up)
LOADING_STATUS = "Loading the local model (once after start-up), then writing the answer..."
#: Sentences the grammar allows in a generated answer (short answers: generation is slow on CPU).
MAX_SENTENCES = 2
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


def does_not_say(missing: Sequence[str]) -> str:
    """``does_not_say(["gallium", "2023"]) -> 'The sources do not say anything about
    "gallium" or "2023".'``"""
    if not missing:
        return "The sources do not say; the nearest sources are listed below."
    quoted = [f'"{m}"' for m in missing]
    joined = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
    return f"The sources do not say anything about {joined}."


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
        model_loading: Callable[[], bool] | None = None,
    ) -> None:
        self.retriever = retriever
        #: True while the answer writer is still being loaded (the status line then says so)
        self.model_loading = model_loading
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
    def generation(self, allowed: Sequence[int]) -> Runnable[dict[str, str], str]:
        """``prompt | model | StrOutputParser()``; the local model is bound to the grammar."""
        model = self.chat_model
        assert model is not None, "the extractive backend has no generation step"
        if getattr(model, "supports_grammar", False):
            model = model.bind(grammar=citation_grammar(allowed, max_sentences=MAX_SENTENCES))
        runnable: Runnable[dict[str, str], str] = self.prompt | model | StrOutputParser()
        return runnable

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
        self, question: str, history: Sequence[Turn] = (), filters: Filters = NO_FILTERS,
        frame: TimeFrame | None = None,
    ) -> Iterator[StreamEvent]:
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        query, earlier = condense(question, history)
        yield StreamEvent("status", "Searching the sources...")
        frame = frame if frame is not None else self.timeframe(question)
        narrowed = frame.narrow(filters) if frame.has_range else None
        ranged = narrowed is not None and narrowed != filters
        passages, relevance = self._retrieve(
            query, question, earlier, narrowed if ranged and narrowed else filters, frame
        )
        # nothing answerable inside a period read from the question: the whole index instead
        widen = TimeFrame(prefer_recent=True, why=f"nothing answerable in {frame.why}")
        timings["retrieve"] = time.perf_counter() - t0
        answer = Answer(
            question=question,
            text="",
            standalone_question=query,
            backend=self.backend,
            notice=self.notice,
            timings=timings,
        )
        if ranged and not passages:
            yield from self.stream(question, history, filters, widen)
            return
        if not passages:
            answer.text = "The sources do not say: no article matches this question."
            answer.abstained = True
            timings["total"] = time.perf_counter() - t0
            yield StreamEvent("token", answer.text)
            yield StreamEvent("answer", answer=answer)
            return
        clusters = getattr(self.retriever, "clusters", None)
        # shown at once, before the sentences are ranked and the model writes
        preview = Answer(question=question, text="",
                         sources=preview_sources(passages, question, relevance, clusters))
        noun = "source" if len(passages) == 1 else "sources"
        yield StreamEvent("sources", f"Found {len(passages)} {noun}.", answer=preview)

        t = time.perf_counter()
        ranked = rank_sentences(question, passages, self.embedder, context=earlier,
                                prefer_recent=frame.prefer_recent)
        sources, shown = number_sources(
            passages, ranked, relevance, clusters=clusters,
            budget=self.settings.prompt_chars, max_sources=self.settings.prompt_sources)
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
            if not ok and ranged:
                yield from self.stream(question, history, filters, widen)
                return
            if not ok:
                logger.info("abstaining before generation: P(answerable) %.2f, missing %s",
                            p, missing)
                yield from self._abstain(answer, missing, t0)
                return
        elif best < RELEVANCE_FLOOR:
            yield from (self.stream(question, history, filters, widen) if ranged
                        else self._abstain(answer, [], t0))
            return

        yield StreamEvent("status", f"Reading {len(passages)} passages...")
        text = ""
        if self.chat_model is not None:
            try:
                text = yield from self._generate(question, earlier, sources, shown, answer,
                                                 frame)
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
            text = self._extractive(ranked, sources, frame)
            timings["generate"] = time.perf_counter() - t
            if text:
                timings.setdefault("first_token", time.perf_counter() - t0)
                yield StreamEvent("token", text)

        if not text.strip() or text.strip().startswith(NOT_IN_SOURCES) or _REFUSAL.match(text):
            yield from self._abstain(answer, [], t0)
            return
        _, claims, invalid = parse_answer(text, len(sources))
        repair_citations(claims, sources)
        answer.text = render(claims)
        answer.claims, answer.invalid_citations = claims, invalid
        answer.citations = quote_citations(claims, sources, ranked, self.embedder)
        answer.as_of = as_of(answer.claims, sources)
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

    def _generate(
        self,
        question: str,
        earlier: str,
        sources: Sequence[Source],
        shown: dict[int, list[ScoredSentence]],
        answer: Answer,
        frame: TimeFrame | None = None,
    ) -> Generator[StreamEvent, None, str]:
        """Stream the LLM's tokens as events; return the full text (a generator's value)."""
        timings = answer.timings
        context = f"(Earlier question, for context: {earlier})\n" if earlier else ""
        if frame is not None and frame.prefer_recent:
            context += LATEST_NOTE
        inputs = {"sources": source_block(sources, shown), "context": context, "question": question}
        loading = self.model_loading is not None and self.model_loading()
        yield StreamEvent("status", LOADING_STATUS if loading else "Writing the answer...")
        flt = StreamFilter(len(sources))
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

    def _extractive(
        self, ranked: Sequence[ScoredSentence], sources: Sequence[Source],
        frame: TimeFrame | None = None,
    ) -> str:
        picked = pick_extractive(ranked)
        text = " ".join(cite(r.text, [r.passage_index]) for r in picked)
        if picked and frame is not None and frame.prefer_recent:
            dates = {s.number: s.chunk.published for s in sources if s.chunk.published}
            older = earlier_figure(picked[0], ranked, dates)
            if older is not None and all(older is not p for p in picked):
                text += " " + cite(earlier_sentence(older.text), [older.passage_index])
        return text

    # ---- time ------------------------------------------------------------------------------
    def timeframe(self, question: str) -> TimeFrame:
        """The question's period / recency reading (:mod:`assistant.answer.timeframe`)."""
        if not getattr(self.settings, "time_aware", True):
            return TimeFrame()
        frame = resolve(question, newest_date(getattr(self.retriever, "manifest", None)))
        if frame.why:
            logger.info("time reading: %s", frame.why)
        return frame

    def _retrieve(
        self, query: str, question: str, earlier: str, filters: Filters, frame: TimeFrame
    ) -> tuple[list[Passage], list[float] | None]:
        """Retrieve a pool, rerank it with the cross-encoder, keep ``top_k``."""
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
        return passages, relevance

    def _abstain(self, answer: Answer, missing: Sequence[str], t0: float) -> Iterator[StreamEvent]:
        answer.abstained = True
        answer.as_of = None  # an abstention states no evidence date
        answer.text = does_not_say(missing)
        answer.claims = []
        answer.citations = []
        answer.timings["total"] = time.perf_counter() - t0
        answer.timings.setdefault("first_token", answer.timings["total"])
        yield StreamEvent("token", answer.text)
        yield StreamEvent("answer", answer=answer)

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

