"""The outbound-URL guard (SSRF): which URLs the platform may fetch or post to.

Only http(s) URLs without credentials; host names are resolved and every address is vetted:
private, loopback, link-local and reserved addresses are refused unless explicitly allowed.
URL intake checks every redirect with it; webhooks check at save and at every delivery.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlsplit

import httpx
import idna

from apps.core.workflows.errors import PermanentError

# The URLs the API takes (URL documents, bootstrap sources, webhooks), stated once for validation
# and for the OpenAPI schema (apps.core.fields.HttpUrlField): http(s), a host name whose last
# label starts with a letter (international names punycoded), an optional port, then URI
# characters. IP literals are taken too (vetted like any address) but the schema leaves them out,
# so that a client generator never picks a private address.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PCHAR = r"(?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})"
_PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
_REST = rf"(?::{_PORT})?(?:[/?]{_PCHAR}*)?(?:#{_PCHAR}*)?$"
HTTP_URL_PATTERN = rf"^https?://(?:{_LABEL}\.)*[A-Za-z](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\.?{_REST}"
_NAMED_URL = re.compile(HTTP_URL_PATTERN)
_IP_LITERAL_URL = re.compile(rf"^https?://(?:[0-9.]+|\[[0-9A-Fa-f:.]+\]){_REST}")
URL_SHAPE_MESSAGE = "Enter an http(s) URL with a host name (international names punycoded), e.g. https://example.com/page."


def url_shape_ok(url: str) -> bool:
    """Whether ``url`` matches HTTP_URL_PATTERN, or is the same with an IP literal for a host."""
    return bool(_NAMED_URL.fullmatch(url) or _IP_LITERAL_URL.fullmatch(url))


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
    if not parts.hostname.isascii():
        # The HTTP client encodes such a host with IDNA 2008 at fetch time: refuse it now, once.
        try:
            idna.encode(parts.hostname, uts46=True)
        except idna.IDNAError as exc:
            raise PermanentError(f"The URL's host name is not a valid international domain name ({exc}).", code="invalid_url")
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
