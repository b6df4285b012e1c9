"""HTTP for the loaders: the one fetch path for URLs and feed entries, and URL ids.

``Fetcher(settings).get(url) -> (body, content_type, final_url)`` or ``LoadError``; it never
raises anything else. One fetcher (one httpx client) per ``load_inputs`` call, so per ingest.
``fetch(url, etag=..., last_modified=...) -> Fetched`` is the same request, conditional: it
sends ``If-None-Match`` / ``If-Modified-Since`` and a ``304`` comes back as
``Fetched(status=304, body=b"")`` ("unchanged"); ``get`` is ``fetch`` without validators.

Limits, each a ``LoadError`` for that URL only:
- **deadline**: a request (connect, headers, body, every redirect hop) gets at most
  ``settings.fetch_deadline`` seconds in total, however slowly the server drips bytes;
  every socket operation is clamped to the time left (:class:`_Guard` wraps httpcore's
  network streams) and the elapsed time is checked between body chunks. Each socket read
  also has ``settings.fetch_timeout``. All fetches of one ingest share
  ``settings.ingest_deadline``; when it is used up the remaining URLs are not tried. A
  host that refused a connection once is not tried again in the same run.
- **size**: a body over ``settings.fetch_max_bytes`` is refused (``Content-Length``
  first, then while streaming).
- **redirects**: followed by hand, at most ``settings.fetch_max_redirects``, http(s) only,
  each hop checked like the first request.
- **destinations**: the host is resolved (``socket.getaddrinfo``) when a connection is
  opened, and loopback, link-local, private, unspecified, multicast, reserved and other
  non-global addresses are refused (:func:`refusal`) unless ``settings.allow_private_urls``;
  the connection goes to the checked address (no second lookup to rebind). Proxies from
  the environment are not used (they would resolve the host for us).

The declared ``charset`` of each response is kept in ``fetcher.charsets[final_url]`` for the
decoder. ``url_id(url)`` is a URL article's id: a slug of the URL plus 8 hex of its hash.

This is the only module that imports httpx. Compromises: no retries and no robots.txt; the
DNS lookup itself is not bounded by the deadline (the resolver's own timeouts apply);
httpx takes no network backend, so its transport's connection pool is rebuilt with ours.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import re
import socket
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from assistant.config import Settings
from assistant.errors import LoadError
from assistant.models import content_hash

logger = logging.getLogger(__name__)

__all__ = ["Fetched", "Fetcher", "refusal", "url_id"]

_USER_AGENT = "rare-earth-assistant/0.1 (+news ingest)"
_SLUG = re.compile(r"[^a-z0-9]+")
_ALLOW_HINT = "set ASSISTANT_ALLOW_PRIVATE_URLS=true to fetch internal addresses"
_VALIDATOR_CHARS = 512  # longer ETag / Last-Modified values are not kept


@dataclass(frozen=True)
class Fetched:
    """One response: ``status`` 200 with the body, or 304 (``not_modified``, empty body).
    ``etag`` / ``last_modified`` are the response's validators ('' when absent or unusable)."""

    body: bytes
    content_type: str
    final_url: str
    status: int = 200
    charset: str = ""
    etag: str = ""
    last_modified: str = ""

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def _validator(value: str | None) -> str:
    """A header value worth sending back: printable ASCII, not too long, else ''."""
    value = (value or "").strip()
    ok = value.isascii() and value.isprintable() and len(value) <= _VALIDATOR_CHARS
    return value if ok else ""


def url_id(url: str) -> str:
    """``"https://x.com/news/a.html" -> "x-com-a-<8 hex of the URL's hash>"``."""
    parts = urlsplit(url)
    tail = [p for p in parts.path.split("/") if p]
    base = f"{parts.hostname or 'url'}-{tail[-1] if tail else 'index'}"
    base = re.sub(r"\.(?:html?|php|aspx?)$", "", base.lower())
    slug = _SLUG.sub("-", base).strip("-")[:60].strip("-")
    return f"{slug}-{content_hash(url)[:8]}"


def refusal(address: str) -> str | None:
    """Why a resolved address may not be fetched from, or ``None`` for a public address.

    ``refusal("127.0.0.1") -> "loopback address 127.0.0.1"``; ``refusal("93.184.216.34")
    -> None``. IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    kinds = (
        ("loopback", ip.is_loopback),
        ("unspecified", ip.is_unspecified),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("non-public", not ip.is_global),
    )
    for kind, hit in kinds:
        if hit:
            return f"{kind} address {ip}"
    return None


class _Refused(Exception):
    """A destination the policy refuses (raised inside httpcore, caught by the Fetcher)."""


class _Deadline(Exception):
    """The request's total deadline passed."""


class _Stream(httpcore.NetworkStream):
    """A network stream whose every operation is clamped to the request's deadline."""

    def __init__(self, inner: httpcore.NetworkStream, guard: _Guard) -> None:
        self.inner = inner
        self.guard = guard

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.inner.read(max_bytes, self.guard.clamp(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.inner.write(buffer, self.guard.clamp(timeout))

    def close(self) -> None:
        self.inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        tls = self.inner.start_tls(ssl_context, server_hostname, self.guard.clamp(timeout))
        return _Stream(tls, self.guard)

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


class _Guard(httpcore.NetworkBackend):
    """httpcore's sync backend with the destination policy and the request deadline."""

    def __init__(self, allow_private: bool, trusted: Collection[tuple[str, int]]) -> None:
        self.inner = httpcore.SyncBackend()
        self.allow_private = allow_private
        self.trusted = {(h.lower(), int(p)) for h, p in trusted}
        self.deadline = math.inf  # time.monotonic() value; set per request by the Fetcher

    def clamp(self, timeout: float | None) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise _Deadline()
        return left if timeout is None else min(timeout, left)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        if self.allow_private or (host.lower(), port) in self.trusted:
            addresses = [host]
        else:
            addresses = self._vetted(host, port)
        error: Exception | None = None
        for address in addresses:
            try:
                stream = self.inner.connect_tcp(
                    address, port, self.clamp(timeout), local_address, socket_options
                )
                return _Stream(stream, self)
            except httpcore.ConnectError as exc:
                error = exc
        assert error is not None
        raise error

    def _vetted(self, host: str, port: int) -> list[str]:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        for address in addresses:
            reason = refusal(address)
            if reason is not None:  # one internal address is enough to refuse the host
                raise _Refused(f"{host} resolves to a {reason}")
        if not addresses:
            raise httpcore.ConnectError(f"cannot resolve {host}")
        return addresses

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        raise _Refused("unix sockets are not fetched")

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(min(seconds, max(0.0, self.deadline - time.monotonic())))


class _Transport(httpx.HTTPTransport):
    """httpx's transport over a connection pool that uses :class:`_Guard` for sockets."""

    def __init__(self, guard: _Guard) -> None:
        super().__init__(trust_env=False)
        # httpx 0.28 has no parameter for httpcore's network backend: rebuild its pool.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False), network_backend=guard
        )


class Fetcher:
    """One httpx client per ``load_inputs`` call (so per ingest), created on first use.

    ``trusted`` lists ``(host, port)`` destinations exempt from the address policy (a test
    seam: a loopback server can stand in for a public one while the setting stays off).
    """

    def __init__(self, settings: Settings, trusted: Collection[tuple[str, int]] = ()) -> None:
        self.settings = settings
        self._guard = _Guard(settings.allow_private_urls, trusted)
        self._client: httpx.Client | None = None
        self.charsets: dict[str, str] = {}  # final URL -> declared charset
        # Hosts that could not be connected to once in this run are not tried again (a feed
        # of 50 summary-only entries on a dead host would otherwise wait 50 timeouts).
        self.dead_hosts: dict[str, str] = {}
        self.spent = 0.0  # seconds spent fetching in this run (against ingest_deadline)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def get(self, url: str) -> tuple[bytes, str, str]:
        """``(body, content_type, final_url)``; LoadError on any failure."""
        got = self.fetch(url)
        return got.body, got.content_type, got.final_url

    def fetch(self, url: str, etag: str = "", last_modified: str = "") -> Fetched:
        """GET ``url``, conditional when validators are given; LoadError on any failure.

        ``fetch(u, etag='"v1"')`` -> ``Fetched(status=304, ...)`` when the server says the
        resource is unchanged; a 304 to an unconditional request is an error.
        """
        settings = self.settings
        headers: dict[str, str] = {}
        if _validator(etag):
            headers["If-None-Match"] = _validator(etag)
        if _validator(last_modified):
            headers["If-Modified-Since"] = _validator(last_modified)
        host = urlsplit(url).netloc.lower()
        if host in self.dead_hosts:
            raise LoadError(url, self.dead_hosts[host])
        budget = settings.ingest_deadline - self.spent
        if budget <= 0:
            raise LoadError(
                url, f"not fetched: this ingest's fetch time ({settings.ingest_deadline:g} s) "
                "is used up",
            )
        limit = min(settings.fetch_deadline, budget)
        t0 = time.monotonic()
        self._guard.deadline = t0 + limit
        try:
            return self._follow(url, limit, headers)
        except LoadError as err:
            if err.reason.startswith("cannot connect"):
                self.dead_hosts[host] = err.reason
            raise
        finally:
            self._guard.deadline = math.inf
            self.spent += time.monotonic() - t0

    def _client_once(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                transport=_Transport(self._guard),
                timeout=self.settings.fetch_timeout,
                follow_redirects=False,
                trust_env=False,
                headers={"User-Agent": _USER_AGENT},
            )
        return self._client

    def _follow(self, url: str, limit: float, headers: dict[str, str]) -> Fetched:
        """GET ``url``, following redirects by hand; every failure becomes a LoadError."""
        client = self._client_once()
        hops = 0
        current: Any = url
        try:
            current = httpx.URL(url)
            while True:
                if current.scheme not in ("http", "https"):
                    raise LoadError(url, f"refused: redirected to {current} (only http and "
                                    "https URLs are fetched)")
                with client.stream("GET", current, headers=headers) as resp:
                    nxt = resp.next_request
                    if nxt is None:
                        return self._read(url, resp, conditional=bool(headers))
                hops += 1
                if hops > self.settings.fetch_max_redirects:
                    raise LoadError(
                        url, f"too many redirects (more than {self.settings.fetch_max_redirects})"
                    )
                logger.debug("%s: redirected to %s", url, nxt.url)
                current = nxt.url
        except _Refused as exc:
            via = f"redirected to {current}; " if hops else ""
            raise LoadError(url, f"refused: {via}{exc} ({_ALLOW_HINT})") from None
        except _Deadline:
            raise self._late(url, limit) from None
        except httpx.ConnectTimeout as exc:
            if time.monotonic() >= self._guard.deadline:
                raise self._late(url, limit) from exc
            raise LoadError(
                url, f"cannot connect: timed out after {self.settings.fetch_timeout:g} s"
            ) from exc
        except httpx.TimeoutException as exc:
            if time.monotonic() >= self._guard.deadline:
                raise self._late(url, limit) from exc
            raise LoadError(url, f"timed out after {self.settings.fetch_timeout:g} s") from exc
        except httpx.ConnectError as exc:
            raise LoadError(url, f"cannot connect: {exc}") from exc
        except httpx.InvalidURL as exc:
            raise LoadError(url, f"invalid URL: {exc}") from exc
        except httpx.HTTPError as exc:
            raise LoadError(url, f"fetch failed: {type(exc).__name__}: {exc}") from exc

    def _late(self, url: str, limit: float) -> LoadError:
        if limit < self.settings.fetch_deadline:
            return LoadError(
                url, f"timed out: this ingest's fetch time ({self.settings.ingest_deadline:g} s)"
                " ran out before the response was complete",
            )
        return LoadError(url, f"timed out: no complete response within {limit:g} s (deadline)")

    def _read(self, url: str, resp: httpx.Response, conditional: bool = False) -> Fetched:
        cap = self.settings.fetch_max_bytes
        etag = _validator(resp.headers.get("etag"))
        modified = _validator(resp.headers.get("last-modified"))
        if resp.status_code == 304 and conditional:
            return Fetched(b"", "", str(resp.url), 304, etag=etag, last_modified=modified)
        if resp.status_code >= 400 or resp.status_code == 304:  # 304 unasked for: an error
            reason = resp.reason_phrase or ""
            raise LoadError(url, f"HTTP {resp.status_code} {reason}".strip())
        length = resp.headers.get("content-length")
        if length and length.isdigit() and int(length) > cap:
            raise LoadError(url, f"response too large ({int(length):,} bytes; limit {cap:,})")
        chunks: list[bytes] = []
        total = 0
        for piece in resp.iter_bytes():
            total += len(piece)
            if total > cap:
                raise LoadError(url, f"response too large (over {cap:,} bytes)")
            chunks.append(piece)
            if time.monotonic() >= self._guard.deadline:
                raise _Deadline()
        header = resp.headers.get("content-type", "")
        ctype = header.split(";")[0].strip().lower()
        m = re.search(r"charset=[\"']?([\w.:-]+)", header, re.I)
        charset = self.charsets[str(resp.url)] = m.group(1) if m else ""
        return Fetched(b"".join(chunks), ctype, str(resp.url), resp.status_code, charset,
                       etag, modified)
