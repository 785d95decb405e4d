"""Fetch a URL document safely: http(s) only, no private targets, a timeout and a byte cap.

Server-side request forgery is the danger: a URL (or a redirect) pointing at
127.0.0.1, 10.x, 169.254.169.254 (cloud metadata) or ::1 would let a user read internal
services. So the host name is resolved HERE, every address is vetted, the connection
goes to the vetted address (no second lookup an attacker's DNS could answer
differently), and redirects are followed by hand, one vetted hop at a time.
``HEYSH_FETCH_ALLOW_PRIVATE`` lifts the address rule for tests only. Domain webhooks
go out through the same checks (``vetted_target``; ``HEYSH_WEBHOOK_ALLOW_PRIVATE``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from apps.core.netguard import vetted_target
from apps.documents.errors import PermanentError

MAX_REDIRECTS = 5
USER_AGENT = "heysh-fetch/1.0 (+document ingestion)"


@dataclass(frozen=True)
class FetchedDocument:
    url: str
    content: bytes
    content_type: str
    filename: str


def _filename(url: str) -> str:
    name = PurePosixPath(unquote(urlsplit(url).path)).name
    return name[:200]


def fetch_url(url: str, *, max_bytes: int, timeout: float, allow_private: bool = False) -> FetchedDocument:
    """GET ``url`` under the rules above. PermanentError for a bad target or answer; other errors are transient."""
    deadline = time.monotonic() + timeout
    current = url
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        for _hop in range(MAX_REDIRECTS + 1):
            if time.monotonic() > deadline:
                raise TimeoutError(f"Fetching the URL took longer than {timeout:g} s.")
            target, headers, extensions = vetted_target(current, allow_private=allow_private)
            headers |= {"User-Agent": USER_AGENT, "Accept": "*/*"}
            with client.stream("GET", target, headers=headers, extensions=extensions) as response:
                if response.is_redirect:
                    location = response.headers.get("location")
                    if not location:
                        raise PermanentError("The URL redirected without saying where to.", code="fetch_failed")
                    current = urljoin(current, location)
                    continue
                if response.status_code in (408, 429) or response.status_code >= 500:
                    raise ConnectionError(f"The URL answered HTTP {response.status_code}; will retry.")
                if response.status_code >= 400:
                    raise PermanentError(f"The URL answered HTTP {response.status_code}.", code="fetch_failed")
                declared = int(response.headers.get("content-length") or 0)
                if declared > max_bytes:
                    raise PermanentError(_too_large(max_bytes), code="too_large")
                body = bytearray()
                for piece in response.iter_bytes():
                    body.extend(piece)
                    if len(body) > max_bytes:
                        raise PermanentError(_too_large(max_bytes), code="too_large")
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"Fetching the URL took longer than {timeout:g} s.")
                return FetchedDocument(
                    url=current, content=bytes(body), content_type=response.headers.get("content-type", ""),
                    filename=_filename(current),
                )
    raise PermanentError(f"The URL redirected more than {MAX_REDIRECTS} times.", code="fetch_failed")


def _too_large(max_bytes: int) -> str:
    return f"The document at the URL is larger than the {max_bytes // (1024 * 1024)} MB limit."
