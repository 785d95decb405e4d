"""URL fetch: private targets refused (also after DNS and on every redirect), caps and timeouts.

The test HTTP server runs on 127.0.0.1 — exactly what the fetcher must refuse by default.
Tests that need to reach it turn on HEYSH_FETCH_ALLOW_PRIVATE, or (for the redirect cases)
treat only the test server's address as public: a real public server cannot run here.
"""

from __future__ import annotations

import ipaddress
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import override_settings

from apps.core import netguard
from apps.documents.analysis import analyze_version
from apps.documents.errors import DuplicateContent, PermanentError
from apps.documents.fetch import fetch_url
from apps.documents.models import Chunk
from apps.documents.services import document_create
from tests.documents import files

PAGE = b"<html><head><title>Fog signals</title></head><body><p>Foghorns warn ships when the light cannot be seen.</p></body></html>"


class Handler(BaseHTTPRequestHandler):
    hits: list[str] = []
    routes: dict = {}

    def do_GET(self):  # noqa: N802
        Handler.hits.append(self.path)
        status, headers, body = Handler.routes.get(self.path, (404, {}, b"missing"))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the fetcher hung up on purpose (byte cap)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    Handler.hits = []
    Handler.routes = {
        "/fog.html": (200, {"Content-Type": "text/html; charset=utf-8"}, PAGE),
        "/article.php": (200, {"Content-Type": "text/html"}, PAGE),
        "/notes": (200, {"Content-Type": "text/plain"}, b"Plain notes about lighthouse keepers."),
        "/manual.pdf": (200, {"Content-Type": "application/pdf"}, files.make_pdf(["Beacon manual page one."])),
        "/hop": (302, {"Location": "/fog.html"}, b""),
        "/to-metadata": (302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b""),
        "/to-private": (301, {"Location": "http://10.0.0.7/internal"}, b""),
        "/to-loopback6": (307, {"Location": "http://[::1]/"}, b""),
        "/loop": (302, {"Location": "/loop"}, b""),
        "/big": (200, {"Content-Type": "text/plain"}, b"a " * 600_000),
        "/gone": (410, {}, b"gone"),
        "/busy": (503, {}, b"busy"),
        "/image": (200, {"Content-Type": "image/png"}, files.PNG_1PX),
    }
    yield base
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def only_test_server_is_public(monkeypatch):
    """Treat 127.0.0.1 (the test server) as a public address; every other rule stays real."""
    real = netguard.address_allowed

    def allowed(address, *, allow_private):
        return address == ipaddress.ip_address("127.0.0.1") or real(address, allow_private=allow_private)

    monkeypatch.setattr(netguard, "address_allowed", allowed)


def test_loopback_server_is_refused_by_default_and_never_contacted(server):
    with pytest.raises(PermanentError) as error:
        fetch_url(f"{server}/fog.html", max_bytes=1_000_000, timeout=5)
    assert error.value.message == "The URL points at a private or reserved address (127.0.0.1); that is not allowed."
    assert Handler.hits == []


@pytest.mark.parametrize(
    "url, address",
    [
        ("http://127.0.0.1/", "127.0.0.1"),
        ("http://10.1.2.3/", "10.1.2.3"),
        ("http://192.168.0.1/", "192.168.0.1"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("http://[::1]/", "::1"),
        ("http://[fe80::1]/", "fe80::1"),
        ("http://[::ffff:127.0.0.1]/", "::ffff:7f00:1"),
        ("http://0.0.0.0/", "0.0.0.0"),
        ("http://224.0.0.1/", "224.0.0.1"),
        ("http://localhost/", "127.0.0.1|::1"),
    ],
)
def test_private_loopback_link_local_reserved_addresses_are_refused(url, address):
    with pytest.raises(PermanentError) as error:
        fetch_url(url, max_bytes=1000, timeout=2)
    assert error.value.code == "forbidden_address"
    assert any(f"({option})" in error.value.message for option in address.split("|"))


def test_public_addresses_are_allowed():
    for address in ("93.184.216.34", "2606:4700:4700::1111", "1.1.1.1"):
        assert netguard.address_allowed(ipaddress.ip_address(address), allow_private=False)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://example.org/", "ftp://example.org/x", "http:///nohost"])
def test_only_http_urls_with_a_host(url):
    with pytest.raises(PermanentError) as error:
        fetch_url(url, max_bytes=1000, timeout=2)
    assert error.value.code == "invalid_url"


@pytest.mark.parametrize("path, address", [("/to-metadata", "169.254.169.254"), ("/to-private", "10.0.0.7"), ("/to-loopback6", "::1")])
def test_redirect_to_a_private_address_is_refused(server, only_test_server_is_public, path, address):
    with pytest.raises(PermanentError) as error:
        fetch_url(f"{server}{path}", max_bytes=1_000_000, timeout=5)
    assert error.value.message == f"The URL points at a private or reserved address ({address}); that is not allowed."
    assert Handler.hits == [path]


def test_redirects_are_followed_and_vetted_one_hop_at_a_time(server, only_test_server_is_public):
    fetched = fetch_url(f"{server}/hop", max_bytes=1_000_000, timeout=5)
    assert fetched.content == PAGE and fetched.url.endswith("/fog.html") and fetched.filename == "fog.html"
    assert Handler.hits == ["/hop", "/fog.html"]


def test_redirect_loop_stops_after_five(server, only_test_server_is_public):
    with pytest.raises(PermanentError) as error:
        fetch_url(f"{server}/loop", max_bytes=1_000_000, timeout=5)
    assert error.value.message == "The URL redirected more than 5 times."
    assert len(Handler.hits) == 6


def test_byte_cap(server, only_test_server_is_public):
    with pytest.raises(PermanentError) as error:
        fetch_url(f"{server}/big", max_bytes=1024 * 1024, timeout=5)
    assert error.value.code == "too_large"


def test_http_errors_permanent_for_4xx_transient_for_5xx(server, only_test_server_is_public):
    with pytest.raises(PermanentError) as error:
        fetch_url(f"{server}/gone", max_bytes=1000, timeout=5)
    assert error.value.message == "The URL answered HTTP 410."
    with pytest.raises(ConnectionError):
        fetch_url(f"{server}/busy", max_bytes=1000, timeout=5)


def test_unknown_host_name_is_permanent():
    with pytest.raises(PermanentError) as error:
        fetch_url("http://no-such-host.invalid/", max_bytes=1000, timeout=5)
    assert "does not exist" in error.value.message


def test_connection_refused_is_transient():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(Exception) as error:
        fetch_url(f"http://127.0.0.1:{port}/", max_bytes=1000, timeout=2, allow_private=True)
    assert not isinstance(error.value, PermanentError)


@pytest.mark.django_db
@override_settings(FETCH_ALLOW_PRIVATE=True)
@pytest.mark.parametrize(
    "path, mime, expected",
    [
        ("/fog.html", "text/html", "Foghorns warn ships"),
        ("/article.php", "text/html", "Foghorns warn ships"),
        ("/notes", "text/plain", "Plain notes about lighthouse keepers."),
        ("/manual.pdf", "application/pdf", "Beacon manual page one."),
    ],
)
def test_url_document_is_fetched_stored_and_analysed(server, domain, user, path, mime, expected):
    document, _ = document_create(domain=domain, user=user, url=f"{server}{path}")
    metrics = analyze_version(version_id=document.current_version_id)

    version = document.versions.get()
    document.refresh_from_db()
    assert metrics["chunks"] >= 1 and version.mime == mime
    assert expected in version.text
    assert version.content_hash and version.size > 0 and version.original
    assert Chunk.objects.filter(version=version).exists()
    if path == "/fog.html":
        assert document.title == "Fog signals"  # the page's title replaces the URL
    # Reprocessing reads the stored copy (no second fetch) and gets the same result.
    hits = len(Handler.hits)
    assert analyze_version(version_id=version.pk) == metrics
    assert len(Handler.hits) == hits


@pytest.mark.django_db
@override_settings(FETCH_ALLOW_PRIVATE=True)
def test_url_whose_content_is_already_in_the_domain_is_a_duplicate(server, domain, user, upload):
    existing, _ = document_create(domain=domain, user=user, upload=upload("fog.html", PAGE))
    document, _ = document_create(domain=domain, user=user, url=f"{server}/fog.html")
    with pytest.raises(DuplicateContent) as error:
        analyze_version(version_id=document.current_version_id)
    assert error.value.existing_document_id == existing.pk
    assert error.value.message == "The same content is already in this domain as “fog”."


@pytest.mark.django_db
@override_settings(FETCH_ALLOW_PRIVATE=True)
def test_url_serving_an_image_fails_with_a_reason(server, domain, user):
    document, _ = document_create(domain=domain, user=user, url=f"{server}/image")
    with pytest.raises(PermanentError) as error:
        analyze_version(version_id=document.current_version_id)
    assert "Unsupported content type “image/png”" in error.value.message


@pytest.mark.django_db
def test_url_document_pointing_at_loopback_fails_in_analysis_by_default(server, domain, user):
    # Intake checks only literal addresses (no DNS in the request); analysis resolves and checks again.
    document, _ = document_create(domain=domain, user=user, url="https://example.org/")
    document.source_url = f"{server}/fog.html"
    document.save(update_fields=["source_url"])
    with pytest.raises(PermanentError) as error:
        analyze_version(version_id=document.current_version_id)
    assert error.value.code == "forbidden_address"
    assert Handler.hits == []
