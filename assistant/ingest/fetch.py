"""HTTP for the loaders: one httpx client per run, size-capped bodies, and URL ids.

``Fetcher(settings).get(url) -> (body, content_type, final_url)`` or ``LoadError``; it never
raises anything else. Timeouts are ``settings.fetch_timeout``; a body larger than
``settings.max_file_bytes`` is refused while streaming (and from ``Content-Length`` before).
The declared ``charset`` of each response is kept in ``fetcher.charsets[final_url]`` for the
decoder. A host that refused a connection once is not tried again in the same run.
``url_id(url)`` is a URL article's id: a slug of the URL plus 8 hex of its hash.

This is the only module that imports httpx. Compromise: no retries and no robots.txt; a
failed fetch is one ``LoadError`` the caller reports.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx

from assistant.config import Settings
from assistant.errors import LoadError
from assistant.models import content_hash

__all__ = ["Fetcher", "url_id"]

_USER_AGENT = "rare-earth-assistant/0.1 (+news ingest)"
_SLUG = re.compile(r"[^a-z0-9]+")


def url_id(url: str) -> str:
    """``"https://x.com/news/a.html" -> "x-com-a-<8 hex of the URL's hash>"``."""
    parts = urlsplit(url)
    tail = [p for p in parts.path.split("/") if p]
    base = f"{parts.hostname or 'url'}-{tail[-1] if tail else 'index'}"
    base = re.sub(r"\.(?:html?|php|aspx?)$", "", base.lower())
    slug = _SLUG.sub("-", base).strip("-")[:60].strip("-")
    return f"{slug}-{content_hash(url)[:8]}"


class Fetcher:
    """One httpx client per ``load_inputs`` call, created on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: httpx.Client | None = None
        self.charsets: dict[str, str] = {}  # final URL -> declared charset
        # Hosts that could not be connected to once in this run are not tried again (a feed
        # of 50 summary-only entries on a dead host would otherwise wait 50 timeouts).
        self.dead_hosts: dict[str, str] = {}

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def get(self, url: str) -> tuple[bytes, str, str]:
        """``(body, content_type, final_url)``; LoadError on any failure."""
        if self._client is None:
            self._client = httpx.Client(
                timeout=self.settings.fetch_timeout,
                follow_redirects=True,
                headers={"User-Agent": _USER_AGENT},
            )
        client = self._client
        cap = self.settings.max_file_bytes
        host = urlsplit(url).netloc.lower()
        if host in self.dead_hosts:
            raise LoadError(url, self.dead_hosts[host])
        try:
            return self._get(client, url, cap)
        except LoadError as err:
            if err.reason.startswith("cannot connect"):
                self.dead_hosts[host] = err.reason
            raise

    def _get(self, client: httpx.Client, url: str, cap: int) -> tuple[bytes, str, str]:
        try:
            with client.stream("GET", url) as resp:
                if resp.status_code >= 400:
                    reason = resp.reason_phrase or ""
                    raise LoadError(url, f"HTTP {resp.status_code} {reason}".strip())
                length = resp.headers.get("content-length")
                if length and length.isdigit() and int(length) > cap:
                    raise LoadError(
                        url, f"response too large ({int(length):,} bytes; limit {cap:,})"
                    )
                chunks: list[bytes] = []
                total = 0
                for piece in resp.iter_bytes():
                    total += len(piece)
                    if total > cap:
                        raise LoadError(url, f"response too large (over {cap:,} bytes)")
                    chunks.append(piece)
                header = resp.headers.get("content-type", "")
                ctype = header.split(";")[0].strip().lower()
                m = re.search(r"charset=[\"']?([\w.:-]+)", header, re.I)
                self.charsets[str(resp.url)] = m.group(1) if m else ""
                return b"".join(chunks), ctype, str(resp.url)
        except httpx.ConnectTimeout as exc:
            raise LoadError(
                url, f"cannot connect: timed out after {self.settings.fetch_timeout:g} s"
            ) from exc
        except httpx.TimeoutException as exc:
            raise LoadError(url, f"timed out after {self.settings.fetch_timeout:g} s") from exc
        except httpx.ConnectError as exc:
            raise LoadError(url, f"cannot connect: {exc}") from exc
        except httpx.InvalidURL as exc:
            raise LoadError(url, f"invalid URL: {exc}") from exc
        except httpx.HTTPError as exc:
            raise LoadError(url, f"fetch failed: {type(exc).__name__}: {exc}") from exc
