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

import ipaddress
import socket
import time
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from apps.documents.errors import PermanentError

MAX_REDIRECTS = 5
USER_AGENT = "heysh-fetch/1.0 (+document ingestion)"


@dataclass(frozen=True)
class FetchedDocument:
    url: str
    content: bytes
    content_type: str
    filename: str


def address_allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address, *, allow_private: bool) -> bool:
    if allow_private:
        return True
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not (
        address.is_private or address.is_loopback or address.is_link_local or address.is_reserved
        or address.is_multicast or address.is_unspecified
    )


def check_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an acceptable URL, or PermanentError. No DNS here."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise PermanentError("The URL is not valid.", code="invalid_url")
    if parts.scheme not in ("http", "https"):
        raise PermanentError("Only http:// and https:// URLs can be fetched.", code="invalid_url")
    if not parts.hostname:
        raise PermanentError("The URL has no host name.", code="invalid_url")
    if parts.username or parts.password:
        raise PermanentError("URLs with credentials in them are not accepted.", code="invalid_url")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def check_literal_host(url: str, *, allow_private: bool) -> None:
    """Intake's early check: refuse a URL whose host is a private IP literal or localhost (no DNS)."""
    _, host, _ = check_url(url)
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        if not allow_private:
            raise PermanentError("The URL points at this machine (localhost); that is not allowed.", code="forbidden_address")
        return
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return
    if not address_allowed(address, allow_private=allow_private):
        raise PermanentError(f"The URL points at a private or reserved address ({address}); that is not allowed.", code="forbidden_address")


def resolve_public(host: str, port: int, *, allow_private: bool) -> str:
    """One vetted IP address for ``host``; refuses the host if ANY of its addresses is not public."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)):
            raise PermanentError(f"The host name “{host}” does not exist.", code="invalid_url")
        raise ConnectionError(f"Could not resolve {host}: {exc}") from exc
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not addresses:
        raise PermanentError(f"The host name “{host}” has no address.", code="invalid_url")
    for address in addresses:
        if not address_allowed(address, allow_private=allow_private):
            raise PermanentError(
                f"The URL points at a private or reserved address ({address}); that is not allowed.", code="forbidden_address"
            )
    return str(addresses[0])


def vetted_target(url: str, *, allow_private: bool) -> tuple[httpx.URL, dict[str, str], dict]:
    """Where to connect for ``url``: its host resolved and vetted here, then (URL with the vetted
    address, Host header, TLS extensions naming the host). The connection goes to that address,
    so a second DNS answer cannot redirect it; TLS still names (SNI) and verifies the host."""
    scheme, host, port = check_url(url)
    address = resolve_public(host, port, allow_private=allow_private)
    default_port = port == (443 if scheme == "https" else 80)
    headers = {"Host": host if default_port else f"{host}:{port}"}
    extensions = {"sni_hostname": host} if scheme == "https" else {}
    return httpx.URL(url).copy_with(host=address), headers, extensions


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
