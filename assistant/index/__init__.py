"""The index: embeddings, the Chroma store, BM25, the ingest manifest, the incremental indexer."""
