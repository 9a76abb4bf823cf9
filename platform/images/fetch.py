"""Downloading product images: from the marketplaces' image hosts only, bounded in size, time
and concurrency, the type read from the bytes, and not again when unchanged (ETag).

- Allowed hosts: the marketplaces' image CDNs (Temu: *.kwcdn.com; AliExpress: *.alicdn.com,
  *.aliexpress-media.com) and the host of a configured gateway override (the sandbox). Any
  other address is refused without a request: no fetching of arbitrary URLs.
- Bounds: MAX_BYTES per image (read in chunks, stopped past it), TIMEOUT_SECONDS for connect
  and for each read, no redirects (a redirect could lead off the allowed hosts).
- Concurrency: at most DOWNLOADS_PER_HOST downloads from one host at once across all workers
  (a lease-based semaphore in Redis); a download that cannot get a slot in SLOT_WAIT_SECONDS
  fails with ERR_IMAGE_BUSY and the task retries later.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

import filetype
import redis
import requests
from django.conf import settings

from images.errors import ImageError

MAX_BYTES = 15 * 1024 * 1024  # the marketplaces accept source images up to 10-15 MB
TIMEOUT_SECONDS = 10.0
DOWNLOADS_PER_HOST = 8
SLOT_WAIT_SECONDS = 30.0
SLOT_LEASE_SECONDS = 60
ACCEPTED_TYPES = {"image/jpeg", "image/png", "image/webp"}
MARKETPLACE_IMAGE_HOSTS = ("kwcdn.com", "alicdn.com", "aliexpress-media.com")


class DownloadError(ImageError):
    """An image could not be downloaded (retryable: worth another try later)."""


@dataclass(frozen=True)
class Downloaded:
    data: bytes | None  # None: not modified since the ETag we sent
    etag: str
    content_type: str
    sha256: str


def allowed_hosts() -> set[str]:
    hosts = set(MARKETPLACE_IMAGE_HOSTS)
    for url in getattr(settings, "MARKETPLACE_GATEWAY_OVERRIDES", {}).values():
        if url:
            hosts.add(urlsplit(url).hostname or "")
    hosts.discard("")
    return hosts


def is_allowed(url: str) -> bool:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        return False
    return any(host == allowed or host.endswith("." + allowed) for allowed in allowed_hosts())


def download(url: str, *, etag: str = "") -> Downloaded:
    if not is_allowed(url):
        raise DownloadError("ERR_IMAGE_HOST", f"{urlsplit(url).hostname or url} is not one of "
                                              f"the marketplaces' image hosts")
    host = urlsplit(url).hostname or ""
    with _host_slot(host):
        headers = {"If-None-Match": etag} if etag else {}
        try:
            with requests.get(url, headers=headers, timeout=TIMEOUT_SECONDS, stream=True,
                              allow_redirects=False) as response:
                if response.status_code == 304:
                    return Downloaded(None, response.headers.get("ETag", etag), "", "")
                if response.status_code != 200:
                    raise DownloadError("ERR_IMAGE_DOWNLOAD",
                                        f"the image host answered {response.status_code}",
                                        retryable=response.status_code >= 500)
                declared = response.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > MAX_BYTES:
                    raise DownloadError("ERR_IMAGE_TOO_LARGE", f"{declared} bytes")
                chunks, size = [], 0
                for chunk in response.iter_content(64 * 1024):
                    size += len(chunk)
                    if size > MAX_BYTES:
                        raise DownloadError("ERR_IMAGE_TOO_LARGE", f"over {MAX_BYTES} bytes")
                    chunks.append(chunk)
                new_etag = response.headers.get("ETag", "")
        except requests.RequestException as error:
            raise DownloadError("ERR_IMAGE_DOWNLOAD", str(error), retryable=True) from error
    data = b"".join(chunks)
    kind = filetype.guess_mime(data)  # from the bytes, not from the header or the name
    if kind not in ACCEPTED_TYPES:
        raise DownloadError("ERR_IMAGE_TYPE", f"not a JPEG, PNG or WebP image ({kind})")
    return Downloaded(data, new_etag, kind, hashlib.sha256(data).hexdigest())


# -- a semaphore per host, shared by every worker -------------------------------------------

_client: redis.Redis | None = None


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
    return _client


class _host_slot:  # noqa: N801 (used as a context manager)
    """A sorted set of leases per host: a member per download, scored by its expiry."""

    def __init__(self, host: str) -> None:
        self.key = f"images:downloads:{host}"
        self.member = uuid.uuid4().hex

    def __enter__(self) -> None:
        deadline = time.monotonic() + SLOT_WAIT_SECONDS
        client = _redis()
        while True:
            now = time.time()
            pipe = client.pipeline()
            pipe.zremrangebyscore(self.key, 0, now)  # leases of crashed workers
            pipe.zadd(self.key, {self.member: now + SLOT_LEASE_SECONDS})
            pipe.zrank(self.key, self.member)
            pipe.expire(self.key, SLOT_LEASE_SECONDS * 2)
            _removed, _added, rank, _ok = pipe.execute()
            # Ranked by expiry: the oldest holders come first; past the limit, give way.
            if rank is not None and rank < DOWNLOADS_PER_HOST:
                return
            client.zrem(self.key, self.member)
            if time.monotonic() > deadline:
                raise DownloadError("ERR_IMAGE_BUSY", "no free download slot for this host",
                                    retryable=True)
            time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        _redis().zrem(self.key, self.member)
