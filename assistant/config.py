"""Settings: the only module that reads the environment.

Settings are read once at an entry point (CLI, ``app.py``, the Slack bot) with
``Settings()`` (environment variables ``ASSISTANT_*``, plus the conventional ``OPENAI_*`` and
``SLACK_*`` names, and an optional ``.env`` file) and passed down. Nothing below the entry
points reads ``os.environ``. The README's configuration table lists every field.

Secrets (API key, Slack tokens, page password) are ``SecretStr``: ``repr(settings)`` and
logs show ``**********``; :func:`reveal` gives the value to the one call that needs it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

Backend = Literal["local", "openai", "extractive"]
EmbedBackend = Literal["onnx", "torch", "onnx-int8"]  # assistant/index/embed.py


def reveal(secret: SecretStr | str | None) -> str | None:
    """The plain value of a secret setting (``reveal(SecretStr("x")) == "x"``; None stays)."""
    if isinstance(secret, SecretStr):
        return secret.get_secret_value()
    return secret


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rare-earth-assistant"


class Settings(BaseSettings):
    """All settings, typed. ``Settings(index_dir=tmp)`` overrides any field in code."""

    model_config = SettingsConfigDict(
        env_prefix="ASSISTANT_", env_file=".env", extra="ignore", frozen=True
    )

    # --- corpus and store
    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")
    collection: str = "articles"
    chroma_host: str | None = None  # set to use a Chroma server instead of index/
    chroma_port: int = 8000
    embed_batch_size: int = 64
    # onnx: torch's vectors (to ~1e-7) through ONNX Runtime, ingest 1.25x torch's speed on 2 idle
    # cores; torch: sentence-transformers; onnx-int8: ~2.1x, vectors at cosine ~0.99 (embed.py)
    embed_backend: EmbedBackend = "onnx"
    chunk_max_tokens: int = 200  # word pieces; all-MiniLM-L6-v2 reads at most 256
    max_file_bytes: int = 20 * 1024 * 1024  # larger files are refused with a clear error
    fetch_timeout: float = 15.0  # seconds, for URLs and feeds
    fetch_deadline: float = 30.0  # seconds: total time for one URL, however slowly it drips
    ingest_deadline: float = 600.0  # seconds: total fetch time for one ingest's URLs and feeds
    fetch_max_bytes: int = 10 * 1024 * 1024  # a larger response is refused
    fetch_max_redirects: int = 5
    allow_private_urls: bool = False  # loopback, link-local, private addresses refused unless set
    lock_wait: float = 120.0  # seconds an ingest waits for another one to finish, then fails
    max_meta_chars: int = 1000  # per metadata field (title, source, url ...)
    max_chunks_per_article: int = 400  # the rest of a longer article is dropped, with a warning
    max_feed_entries: int = 500  # entries read from one feed

    # --- feed watching (`assistant watch`; a long-running process runs a FeedWatcher)
    feeds: tuple[str, ...] = ()  # feed or page URLs to poll
    feed_interval: float = Field(default=1800.0, gt=0)  # seconds between polls of a feed
    feed_retry: float = Field(default=60.0, gt=0)  # first retry of a failing feed; doubles
    feed_retry_max: float = Field(default=6 * 3600.0, gt=0)  # cap on that back-off

    # --- story clusters: syndicated / rewritten copies (assistant/index/clusters.py)
    cluster_stories: bool = True  # group copies at ingest; retrieval keeps one per story
    cluster_shingle_words: int = Field(default=5, ge=1)  # words per shingle
    cluster_copy_jaccard: float = Field(default=0.8, gt=0, le=1)  # whole text: one copy group
    cluster_boilerplate_df: int = Field(default=2, ge=1)  # in more copy groups: boilerplate
    cluster_containment: float = Field(default=0.5, gt=0, le=1)  # shared distinctive text

    # --- retrieval
    top_k: int = 6
    rerank: bool = True  # order a pool of retrieved passages with the packaged cross-encoder
    candidates: int = 30  # per retriever, before fusion

    # --- time-aware answers (answer.timeframe): periods and "the latest" in questions are
    # read against the newest article's date; off = every question reads the whole index
    time_aware: bool = True

    # --- answering
    backend: Backend = "local"
    model_path: Path | None = None  # a GGUF file; default: assembled from the packaged parts
    cache_dir: Path = Field(default_factory=_default_cache_dir)
    llm_threads: int = Field(default_factory=lambda: os.cpu_count() or 2)
    llm_context: int = 4096
    llm_max_tokens: int = 320
    llm_temperature: float = 0.0
    # what the answer prompt shows: characters of source sentences and sources at most (the
    # prompt's length sets the time to the first token: ~57 prompt tokens a second on 2 cores)
    prompt_chars: int = 450
    prompt_sources: int = 3
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("ASSISTANT_OPENAI_BASE_URL", "OPENAI_BASE_URL")
    )
    openai_api_key: SecretStr = Field(
        default=SecretStr("not-needed"),
        validation_alias=AliasChoices("ASSISTANT_OPENAI_API_KEY", "OPENAI_API_KEY"),
    )
    openai_model: str = Field(
        default="qwen2.5-1.5b-instruct",
        validation_alias=AliasChoices("ASSISTANT_OPENAI_MODEL", "OPENAI_MODEL"),
    )
    openai_timeout: float = 120.0

    # --- claim checking
    verify: bool = True  # check every answer sentence
    judge: bool = True  # use the LLM judge for the cases the cheap path leaves open
    judge_probe: bool = True  # local judge: score with the layer-16 probe (packaged model only)

    # --- web page
    host: str = "127.0.0.1"
    port: int = 7860
    auth_user: str | None = None
    auth_password: SecretStr | None = None
    concurrency: int = 2
    upload_max_bytes: int = 10 * 1024 * 1024
    feedback_db: Path | None = None  # default: index_dir / "feedback.sqlite3"
    max_question_chars: int = 2000
    max_check_chars: int = 20000  # pasted text in the fact-check tab
    max_check_claims: int = 40
    user_concurrency: int = 1  # answers in flight per page user (session)
    login_attempts: int = 5  # failed logins per user and address within login_window
    login_window: float = 300.0  # seconds
    page_backends: tuple[str, ...] = ()  # a page may pick these + extractive; else the default

    # --- Slack
    slack_bot_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("ASSISTANT_SLACK_BOT_TOKEN", "SLACK_BOT_TOKEN")
    )
    slack_app_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("ASSISTANT_SLACK_APP_TOKEN", "SLACK_APP_TOKEN")
    )
    slack_signing_secret: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("ASSISTANT_SLACK_SIGNING_SECRET", "SLACK_SIGNING_SECRET"),
    )
    slack_mode: Literal["socket", "http"] = "socket"
    slack_port: int = 3000
    slack_api_url: str | None = None  # tests point the bot at a fake Slack Web API
    slack_channels: tuple[str, ...] = ()  # allow-list; empty = every channel
    slack_rate_limit: int = 10  # questions per user per minute
    slack_command: str = "/rare-earth"  # the slash command registered in the Slack app
    slack_host: str = "127.0.0.1"  # HTTP mode: bind address (put a TLS proxy in front)
    slack_max_body_bytes: int = 64 * 1024  # larger HTTP-mode request bodies are refused unread
    slack_stream: bool = True  # stream answers (chat.startStream); off: placeholder + chat.update
    slack_stream_chars: int = 120  # flush the streamed text every this many characters...
    slack_stream_interval: float = 1.0  # ...or after this many seconds, whichever comes first
    slack_shutdown_grace: float = 120.0  # HTTP mode: seconds a shutdown waits for answers
    slack_digest_channel: str = ""  # channel id for the digest of new articles; "" = none
    slack_digest_every: float = Field(default=86400.0, gt=0)  # seconds between digests
    slack_watch_every: float = Field(default=900.0, gt=0)  # seconds between watch checks

    @property
    def feedback_path(self) -> Path:
        return self.feedback_db or (self.index_dir / "feedback.sqlite3")

    @property
    def manifest_path(self) -> Path:
        return self.index_dir / "manifest.sqlite3"

    @property
    def feeds_path(self) -> Path:
        return self.index_dir / "feeds.json"
