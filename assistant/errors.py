"""Our exceptions. Raised inside the package, translated once at the edges.

The CLI turns an ``AssistantError`` into a one-line message and a non-zero exit code; the
page and the Slack bot show :func:`user_message` (the one wording of our errors for people)
and log the exception. :func:`one_line` makes any text safe for one terminal line: names
from outside (file names, ids, URLs) may hold newlines or ANSI escapes.
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


def one_line(text: str) -> str:
    """``text`` with every non-printable character (newline, tab, ESC, other controls) as its
    Python escape, so it shows as one line and cannot drive the terminal.

    ``one_line("a\\nb\\x1b[31m") -> "a\\\\nb\\\\x1b[31m"``
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def user_message(exc: BaseException) -> str:
    """The one translation of an error for people: what a reader sees instead of a trace.

    Our own errors say what happened and what to do; anything else gets a generic line (the
    caller logs the details). ``user_message(ConfigError("bad date")) -> "bad date"``.
    """
    if isinstance(exc, ConfigError):
        return str(exc)
    if isinstance(exc, ModelError):
        return (
            "The language model could not be loaded, so no answer was written. "
            "Choose the extractive answer writer, or ask an administrator to check the model "
            "installation."
        )
    if isinstance(exc, GenerationError):
        return (
            "The language model failed while answering. Please try again, or choose the "
            "extractive answer writer."
        )
    if isinstance(exc, StoreError):
        return "The article index could not be read. Please try again in a moment."
    if isinstance(exc, LoadError):
        return f"{exc.origin}: {exc.reason}"
    if isinstance(exc, AssistantError):
        return str(exc) or "The request could not be completed."
    return "Something went wrong on our side; the details were logged. Please try again."


def too_long(text: str, limit: int, what: str) -> str:
    """``too_long("x" * 3000, 2000, "question")`` -> a one-line refusal; ``""`` when fine."""
    if len(text) <= limit:
        return ""
    return (
        f"The {what} is too long ({len(text):,} characters; the limit is {limit:,}). "
        "Please shorten it."
    )
