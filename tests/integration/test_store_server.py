"""Embedded Chroma vs a `chroma run` server on loopback: the same ingest, the same answers.

The server is the ``chroma_server`` fixture of ``tests/integration/conftest.py``
(``tests/integration/servers.py``).
"""

from __future__ import annotations

import pytest

from assistant.config import Settings
from assistant.models import Filters
from assistant.service import Assistant
from tests.conftest import CORPUS

pytestmark = pytest.mark.slow

QUERIES = [
    "How big is the planned NdFeB magnet plant in Pahang?",
    "Is China offering to share rare earth processing technology with Malaysia?",
    "What does the Prime Minister say about export restrictions under the trade agreement?",
    "Which claims lack published investment details?",
    "Khazanah Nasional sovereign wealth fund",
]


def test_embedded_and_server_give_same_ids(tmp_path, embedder, chroma_server):
    embedded = Assistant(Settings(_env_file=None, index_dir=tmp_path / "embedded"))
    server = Assistant(
        Settings(
            _env_file=None,
            index_dir=tmp_path / "server-index",
            chroma_host="127.0.0.1",
            chroma_port=chroma_server,
        )
    )
    for a in (embedded, server):
        a.embedder = embedder
        result = a.ingest([str(CORPUS)])
        assert result.ok and result.added
    assert embedded.store.mode == "embedded" and server.store.mode == "server"
    assert server.stats()["store"] == "server"
    assert sorted(embedded.store.ids()) == sorted(server.store.ids())
    assert embedded.store.count() == server.store.count() > 0
    for q in QUERIES:
        vec = embedder.encode([q])[0]
        hits_e = embedded.store.query(vec, 5, Filters())
        hits_s = server.store.query(vec, 5, Filters())
        assert [c.id for c, _ in hits_e] == [c.id for c, _ in hits_s], q
        for (_, se), (_, ss) in zip(hits_e, hits_s, strict=True):
            assert se == pytest.approx(ss, abs=1e-4)
        # and through LangChain, over the same collections
        docs_e = embedded.store.as_langchain().similarity_search(q, k=3)
        docs_s = server.store.as_langchain().similarity_search(q, k=3)
        assert [d.id for d in docs_e] == [d.id for d in docs_s] == [c.id for c, _ in hits_e[:3]]
    # idempotent against the server too
    again = server.ingest([str(CORPUS)])
    assert again.added == () and again.chunks_written == 0
    assert sorted(server.store.ids()) == sorted(embedded.store.ids())
