"""The one fakes module: deterministic stand-ins so that unit tests never load a model,
open a store or start a server (integration tests import from here too).

``FakeEmbedder`` hashes lower-cased word stems into an L2-normalised float32 vector (like
simonw/llm's ``EmbedDemo``) behind the ``Embedder`` surface the indexer, store, retriever,
verifier and gate use; ``FakeChatModel`` is LangChain's ``GenericFakeChatModel`` recording
its prompts; ``FakeRetriever`` returns fixed passages; ``FakeAssistant`` gives canned answers
and checks, configurable by constructor arguments, and records every call (``SlackAssistant``
and ``EvalAssistant`` read the calls in the shapes those tests use); ``FakeLlama`` hands
chosen logits to the judge. The page's and the Slack bot's canned answers live here too.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from assistant.config import Settings
from assistant.errors import GenerationError
from assistant.models import (
    Answer,
    ArticleInfo,
    CheckReport,
    Chunk,
    Citation,
    Claim,
    Evidence,
    Filters,
    IngestProgress,
    IngestResult,
    Passage,
    Source,
    StreamEvent,
    Turn,
    Verdict,
    final_answer,
)

# ---- embedders ------------------------------------------------------------------------------
_WORD = re.compile(r"[a-z0-9]+")
_PIECE = re.compile(r"\w+|[^\w\s]")


def stem(word: str) -> str:
    """A crude stemmer, enough for a fake: ``"tonnes" -> "tonne"``, ``"plants" -> "plant"``."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


class FakeEmbedder(Embeddings):
    """``FakeEmbedder().encode(["rare earth magnets"]).shape -> (1, 256)``; deterministic."""

    name = "fake-embedder"
    max_tokens = 256

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim

    dimension = property(lambda self: self.dim)

    def tokens(self, text: str) -> list[str]:
        return [stem(w) for w in _WORD.findall(text.lower())]

    def count_tokens(self, text: str) -> int:
        """Words and punctuation marks (the real model counts word pieces: a few more)."""
        return len(_PIECE.findall(text))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for tok in self.tokens(text):
                out[i, int(hashlib.md5(tok.encode()).hexdigest(), 16) % self.dim] += 1.0
            norm = np.linalg.norm(out[i])
            if norm:
                out[i] /= norm
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()


class CountingEmbedder:
    """Wraps an embedder and records every text it was asked to encode."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.texts: list[str] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.texts += list(texts)
        return self.inner.encode(texts)


# ---- chat model and retriever -----------------------------------------------------------------
class FakeChatModel(GenericFakeChatModel):
    """GenericFakeChatModel that keeps the prompts it was sent (``seen``)."""

    seen: list[Any] = []

    def _stream(self, messages, stop=None, run_manager=None, **kwargs):  # type: ignore[override]
        self.seen.append(messages)
        yield from super()._stream(messages, stop=stop, run_manager=run_manager, **kwargs)


def fake_chat(*replies: str) -> FakeChatModel:
    """A chat model that answers with ``replies`` in turn (and fails when they run out)."""
    return FakeChatModel(messages=iter([AIMessage(content=r) for r in replies]), seen=[])


class FakeRetriever:
    """Returns its passages (the first ``k``, 6 by default); records queries and filters."""

    def __init__(self, passages: list[Passage], embedder: Any = None) -> None:
        self.passages = passages
        self.embedder = embedder
        self.queries: list[str] = []
        self.filters: list[Filters | None] = []

    def retrieve(self, query: str, k: int | None = None, filters: Filters | None = None,
                 mode: str = "hybrid") -> list[Passage]:
        self.queries.append(query)
        self.filters.append(filters)
        return self.passages[: k or 6]


# ---- llama.cpp -------------------------------------------------------------------------------
class FakeLlama:
    """Tokenizes the answer words to fixed ids and hands chosen logits to the processor."""

    def __init__(self, logits):
        self.logits = logits
        self.prompts: list[str] = []
        self.n_tokens = 0

    def tokenize(self, text, add_bos=False, special=False):
        fixed = {b"Yes": [1, 9], b"No": [2, 9]}
        return fixed.get(text) or [3 + len(text) % 5, 4]  # a prompt: some tokens

    def create_completion(self, prompt, max_tokens, temperature, logits_processor):
        self.prompts.append(prompt)
        arr = np.full(10, -10.0, dtype=np.float32)
        for i, v in self.logits.items():
            arr[i] = v
        for p in logits_processor:
            arr = p(None, arr)
        return {"choices": [{"text": "Yes"}]}


# ---- the page's canned answer ---------------------------------------------------------------
PASSAGE = (
    "The deal builds on the July memorandum between Lynas and JS Link, which targets "
    "3,000 tonnes of NdFeB magnets annually near Kuantan. <script>alert('x')</script>"
)
NO_FILTERS = Filters()
QUOTE = "targets 3,000 tonnes of NdFeB magnets annually"


def _chunk(n: int, text: str = PASSAGE) -> Chunk:
    return Chunk(
        id=f"art{n}:h:0", article_id=f"art{n}", index=0, text=text, start=0, end=len(text),
        section="", role="report", title=f"Malaysia <b>magnets</b> {n}", source="REEx",
        url="https://example.org/a" if n == 1 else "javascript:alert(1)",
        published=date(2025, 11, 20),
    )


def make_answer(question: str) -> Answer:
    c1, c2 = _chunk(1), _chunk(2)
    q_start = PASSAGE.index(QUOTE)
    ev = Evidence(
        chunk_id=c1.id, article_id="art1", quote=QUOTE, start=q_start,
        end=q_start + len(QUOTE), title=c1.title, published=c1.published, source_number=1,
    )
    ev_contra = Evidence(
        chunk_id=c2.id, article_id="art2", quote="3,000 tonnes", start=PASSAGE.index("3,000"),
        end=PASSAGE.index("3,000") + 12, title=c2.title, published=c2.published,
        source_number=2,
    )
    # like the chain: claims are plain sentences, the text carries the [n] markers
    s1 = "The Pahang plant targets 3,000 tonnes of NdFeB magnets a year."
    s2 = "It will open in 2026."
    s3 = "It will make 9,000 tonnes."
    claims = [
        Claim(s1, [1], Verdict("supported", 0.9, (ev,), reason="numbers match")),
        Claim(s2, [2], Verdict("unsupported", 0.6, (), reason="no source gives an opening date")),
        Claim(s3, [1], Verdict("contradicted", 0.8, (ev_contra,), reason="9,000 vs 3,000",
                               conflicting=(ev_contra,))),
    ]
    return Answer(
        question=question,
        text=(
            "The Pahang plant targets 3,000 tonnes of NdFeB magnets a year [1]. "
            "It will open in 2026 [2].\n\nIt will make 9,000 tonnes [1]."
        ),
        claims=claims,
        citations=[Citation(1, c1.id, "art1", QUOTE, q_start, q_start + len(QUOTE))],
        sources=[Source(1, Passage(c1, 0.9)), Source(2, Passage(c2, 0.5))],
        backend="extractive",
    )


# ---- the Slack bot's canned answer ------------------------------------------------------------
SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-111-222-testtokenvalue"
APP_TOKEN = "xapp-1-A1-333-apptokenvalue"
URL = "https://example.org/malaysia-magnets"
SLACK_QUOTE = "Lynas and JS Link target 3,000 tonnes of NdFeB magnets a year near Kuantan."


def slack_chunk() -> Chunk:
    text = "Malaysia and South Korea agree on a magnet plant. " + SLACK_QUOTE
    return Chunk(
        id="malaysia:abc:0", article_id="malaysia", index=0, text=text, start=0, end=len(text),
        section="Highlights", role="report", title="Malaysia's magnet deal", source="REEx",
        url=URL, published=date(2025, 11, 20),
    )


def canned_answer(question: str) -> Answer:
    chunk = slack_chunk()
    start = chunk.text.index(SLACK_QUOTE)
    ev = Evidence(chunk.id, chunk.article_id, SLACK_QUOTE, start, start + len(SLACK_QUOTE),
                  title=chunk.title, published=chunk.published, source_number=1)
    backed = "Lynas and JS Link plan a 3,000-tonne magnet plant in Pahang [1]."
    flagged = "The plant will open in 2026 [1]."
    return Answer(
        question=question,
        text=f"{backed} {flagged}",
        claims=[
            Claim(backed, [1], Verdict("supported", 0.9, evidence=(ev,))),
            Claim(flagged, [1], Verdict("unsupported", 0.8, reason="no opening date given")),
        ],
        citations=[Citation(1, chunk.id, chunk.article_id, SLACK_QUOTE, start,
                            start + len(SLACK_QUOTE))],
        sources=[Source(1, Passage(chunk, 0.9))],
        backend="fake",
    )


def slack_answer(question: str) -> Answer:
    """The canned answer; far more than one Slack message holds when asked "at length"."""
    answer = canned_answer(question)
    if "at length" in question:
        answer.text = " ".join(f"Sentence {i} about magnets [1]." for i in range(3000))
        answer.claims = [Claim(f"Sentence {i} about magnets [1].", [1],
                               Verdict("unsupported", 0.5)) for i in range(80)]
    return answer


def slack_check(text: str) -> CheckReport:
    """Every pasted claim is contradicted by the canned source."""
    chunk = slack_chunk()
    start = chunk.text.index(SLACK_QUOTE)
    ev = Evidence(chunk.id, chunk.article_id, SLACK_QUOTE, start, start + len(SLACK_QUOTE),
                  title=chunk.title, published=chunk.published)
    verdict = Verdict("contradicted", 0.9, evidence=(ev,), conflicting=(ev,),
                      reason="the source says 3,000 tonnes")
    return CheckReport(text=text, claims=[Claim(text, verdict=verdict)])


# ---- the Assistant ----------------------------------------------------------------------------
def _page_check(text: str) -> CheckReport:
    return CheckReport(text=text, claims=make_answer(text).claims)


def _words(answer: Answer) -> list[str]:
    return [word + " " for word in answer.text.split(" ")]


class FakeAssistant:
    """Streams a canned answer, checks with a canned report; records every call.

    By default it is the page's fake: ``make_answer``, the answer streamed word by word
    (``delay`` seconds apart), a ``GenerationError`` after the status when ``fail``. The
    arguments swap each part: ``answer(question)``, ``check(text)``, ``tokens(answer)``,
    ``status``, ``failure(question) -> exception or None``, and ``ingest_result`` (returned
    as is instead of reading the files). Records: ``calls`` (question, history list, filters,
    backend), ``checked`` (texts) and ``ingests`` (one list of inputs per ingest).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        delay: float = 0.0,
        fail: bool = False,
        *,
        answer: Callable[[str], Answer] = make_answer,
        check: Callable[[str], CheckReport] = _page_check,
        tokens: Callable[[Answer], list[str]] = _words,
        status: str = "Searching 2 articles…",
        failure: Callable[[str], Exception | None] | None = None,
        ingest_result: IngestResult | None = None,
    ) -> None:
        self.settings = settings or Settings(_env_file=None, backend="extractive")
        self.delay = delay
        self.fail = fail
        self.answer, self.check_report, self.tokens = answer, check, tokens
        self.status, self.failure, self.ingest_result = status, failure, ingest_result
        self.lock = threading.Lock()
        self.calls: list[tuple[str, list[Turn], Filters, str | None]] = []
        self.checked: list[str] = []
        self.ingests: list[list[str]] = []
        self.loading = False  # what model_loading() says
        self.articles = [
            ArticleInfo("art1", "Malaysia <b>magnets</b> 1", "corpus/a.txt", "h", 3,
                        published=date(2025, 11, 20), source="REEx"),
            ArticleInfo("art2", "China and Malaysia", "corpus/b.txt", "h", 4, source="Azernews"),
        ]

    def ask_stream(
        self, question: str, history: Sequence[Turn] = (), filters: Filters = NO_FILTERS,
        backend: str | None = None,
    ) -> Iterator[StreamEvent]:
        with self.lock:
            self.calls.append((question, list(history), filters, backend))
        yield StreamEvent("status", self.status)
        if self.fail:
            raise GenerationError("llama exploded: secret stack detail")
        error = self.failure(question) if self.failure else None
        if error is not None:
            raise error
        answer = self.answer(question)
        if answer.sources:  # what the chain yields once retrieval is done
            quotes = {c.number: c.quote for c in answer.citations}
            preview = Answer(question=answer.question, text="", sources=[
                replace(s, best=s.best or quotes.get(s.number, "")) for s in answer.sources])
            yield StreamEvent("sources", f"Found {len(answer.sources)} source(s).", answer=preview)
        for token in self.tokens(answer):
            if self.delay:
                time.sleep(self.delay)
            yield StreamEvent("token", token)
        yield StreamEvent("answer", answer=answer)

    def ask(self, question: str, history: Sequence[Turn] = (), filters: Filters = NO_FILTERS,
            backend: str | None = None) -> Answer:
        return final_answer(self.ask_stream(question, history, filters, backend))

    def check(self, text: str, filters: Filters = NO_FILTERS) -> CheckReport:
        with self.lock:
            self.checked.append(text)
        return self.check_report(text)

    @property
    def ingested(self) -> list[list[str]]:
        return self.ingests

    def sources(self) -> list[ArticleInfo]:
        return list(self.articles)

    def model_loading(self) -> bool:
        return self.loading

    def ingest(self, inputs: Sequence[str], prune: bool = False, progress=None) -> IngestResult:
        self.ingests.append(list(inputs))
        if self.ingest_result is not None:
            return self.ingest_result
        failed = []
        added = []
        for i, inp in enumerate(inputs):
            if progress:
                progress(IngestProgress(i + 1, len(inputs), inp))
            data = Path(inp).read_bytes()
            if b"\x00" in data:
                failed.append((inp, "binary file (contains NUL bytes), not a text document"))
            else:
                added.append(Path(inp).stem)
                self.articles.append(ArticleInfo(Path(inp).stem, Path(inp).stem, inp, "h", 1))
        return IngestResult(added=tuple(added), failed=tuple(failed), chunks_written=len(added))


class SlackAssistant(FakeAssistant):
    """The Slack bot's fake: the canned answer streamed word by word, the contradicted check,
    a failure quoting the bot token on "boom"; ``asked``: (question, history list) each."""

    def __init__(self, settings: Settings | None = None, **kw: Any) -> None:
        super().__init__(settings, answer=slack_answer, check=slack_check,
                         status="Searching 2 articles...", **kw,
                         failure=lambda q: RuntimeError(f"index exploded near {BOT_TOKEN}")
                         if "boom" in q else None)

    @property
    def asked(self) -> list[tuple[str, list[Turn]]]:
        return [(question, history) for question, history, _, _ in self.calls]


class EvalAssistant(FakeAssistant):
    """``asked``: (question, history tuple, backend) each; ``ingested``: every input."""

    @property
    def asked(self) -> list[tuple[str, tuple[Turn, ...], str | None]]:
        return [(question, tuple(history), backend) for question, history, _, backend in self.calls]

    @property
    def ingested(self) -> list[str]:  # type: ignore[override]
        return [inp for inputs in self.ingests for inp in inputs]


class SlowCheckAssistant(FakeAssistant):
    """The page's fake with a slow fact-check: ``check_delay`` seconds per call to ``check``
    (the page checks claim by claim), so a test can leave while a check is running."""

    def __init__(self, settings: Settings | None = None, check_delay: float = 0.3,
                 **kw: Any) -> None:
        super().__init__(settings, **kw)
        self.check_delay = check_delay

    def check(self, text: str, filters: Filters = NO_FILTERS) -> CheckReport:
        time.sleep(self.check_delay)
        return super().check(text, filters)
