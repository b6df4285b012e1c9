"""Typed records that cross module borders; every module speaks in these.

No dicts or raw Chroma results leave the module that made them. The records live in two
halves, both re-exported here (import them from ``assistant.models``): :mod:`.corpus`
(articles, chunks, the library, ingest reports, retrieval filters) and :mod:`.answers`
(passages, verdicts, claims, answers, check reports, the answer stream and its drain).
"""

from assistant.models.answers import (
    LABELS,
    Answer,
    CheckReport,
    Citation,
    Claim,
    Copy,
    Evidence,
    Label,
    Passage,
    Source,
    StreamEvent,
    Turn,
    Verdict,
    VerdictCounts,
    final_answer,
)
from assistant.models.corpus import (
    DOUBTING_ROLES,
    ROLES,
    Article,
    ArticleInfo,
    Chunk,
    Filters,
    IngestProgress,
    IngestResult,
    RawArticle,
    Role,
    Section,
    content_hash,
    date_to_int,
)

__all__ = [
    "ROLES", "DOUBTING_ROLES", "Role", "LABELS", "Label", "content_hash", "date_to_int",
    "RawArticle", "Section", "Article", "Chunk", "ArticleInfo", "Filters",
    "IngestProgress", "IngestResult",
    "Passage", "Evidence", "Verdict", "Citation", "Copy", "Source", "Claim", "VerdictCounts",
    "Answer", "CheckReport", "Turn", "StreamEvent", "final_answer",
]
