"""Ingest: inputs (files, folders, URLs, feeds) -> cleaned, sectioned articles and their chunks."""
