"""Our exceptions. Raised inside the package, translated once at the edges.

The CLI turns an ``AssistantError`` into a one-line message and a non-zero exit code; the
page and the Slack bot show a short friendly message and log the exception.
"""

from __future__ import annotations


class AssistantError(Exception):
    """Base of every error the package raises on purpose."""


class ConfigError(AssistantError):
    """Settings that cannot work (missing token, unknown backend, bad path)."""


class LoadError(AssistantError):
    """A document could not be read or parsed. ``origin`` names the file or URL."""

    def __init__(self, origin: str, reason: str) -> None:
        super().__init__(f"{origin}: {reason}")
        self.origin = origin
        self.reason = reason


class StoreError(AssistantError):
    """The vector store or the manifest failed."""


class ModelError(AssistantError):
    """A model (embedding or LLM) could not be found, assembled or loaded."""


class GenerationError(AssistantError):
    """The LLM backend failed while answering or judging."""
