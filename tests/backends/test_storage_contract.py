"""The documents storage contract (STORAGES["documents"]) and the download API.

Adapters:
- ``local``: FileSystemStorage under the test var dir (always runs);
- ``s3-moto``: django-storages' S3Storage through boto3 against **moto's standalone S3
  server** on loopback (a real S3 HTTP endpoint, started in-process by the fixture; it
  is moto, not MinIO). Always runs.
- ``s3-live``: the same against a real S3/MinIO when HEYSH_S3_ENDPOINT_URL,
  HEYSH_S3_BUCKET, HEYSH_S3_ACCESS_KEY, HEYSH_S3_SECRET_KEY and HEYSH_S3_LIVE=1 are set.

The S3 options are the ones ``heysh/settings.py`` builds from the environment (the
settings module is executed with that environment), so the tests cover the real
configuration: path-style addressing, SigV4, checksums only when required.

moto does not enforce presigned-URL expiry (it serves an expired URL), so expiry is
checked as far as it can be here: the URL is SigV4-signed and carries the configured
``X-Amz-Expires``; enforcement is the server's job (MinIO/AWS, live suite).
"""

from __future__ import annotations

import os
import runpy
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.test import override_settings

from apps.documents.downloads import documents_bucket_ensure
from apps.documents.models import DocumentVersion, original_upload_to
from tests.backends.conftest import require_live
from tests.backends.world import make_version
from tests.factories import DomainFactory

pytestmark = pytest.mark.django_db

SETTINGS_FILE = Path(__file__).resolve().parents[2] / "heysh" / "settings.py"


@pytest.fixture(scope="session")
def moto_s3():
    """moto's standalone S3 server (not MinIO) on a free loopback port, for the whole session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def documents_config_from_settings(monkeypatch, env: dict[str, str]) -> dict:
    """STORAGES["documents"] exactly as heysh/settings.py builds it from ``env``."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    namespace = runpy.run_path(str(SETTINGS_FILE))
    return namespace["STORAGES"]["documents"]


def s3_env(endpoint: str, bucket: str) -> dict[str, str]:
    return {
        "HEYSH_S3_BUCKET": bucket,
        "HEYSH_S3_ENDPOINT_URL": endpoint,
        "HEYSH_S3_ACCESS_KEY": "heysh-test",
        "HEYSH_S3_SECRET_KEY": "heysh-test-secret",
        "HEYSH_S3_URL_EXPIRE_SECONDS": "60",
    }


@contextmanager
def storage_of_kind(kind: str, request, monkeypatch, tmp_path):
    if kind == "local":
        config = {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}}
    elif kind == "s3-moto":
        endpoint = request.getfixturevalue("moto_s3")
        config = documents_config_from_settings(monkeypatch, s3_env(endpoint, f"heysh-test-{os.getpid()}"))
    else:
        require_live(
            "HEYSH_S3_ENDPOINT_URL", "HEYSH_S3_BUCKET", "HEYSH_S3_ACCESS_KEY", "HEYSH_S3_SECRET_KEY", "HEYSH_S3_LIVE"
        )
        config = documents_config_from_settings(monkeypatch, {})
    with override_settings(STORAGES={**_base_storages(), "documents": config}, S3_CREATE_BUCKET=True):
        documents_bucket_ensure()
        storage = storages["documents"]
        storage.kind = kind
        yield storage


LIVE_S3 = pytest.param("s3-live", marks=pytest.mark.live)


@pytest.fixture(params=["local", "s3-moto", LIVE_S3])
def documents_storage(request, monkeypatch, tmp_path):
    with storage_of_kind(request.param, request, monkeypatch, tmp_path) as storage:
        yield storage


@pytest.fixture(params=["s3-moto", LIVE_S3])
def s3_storage(request, monkeypatch, tmp_path):
    with storage_of_kind(request.param, request, monkeypatch, tmp_path) as storage:
        yield storage


def _base_storages():
    from django.conf import settings

    return {k: v for k, v in settings.STORAGES.items() if k != "documents"}


def is_s3(storage) -> bool:
    return storage.kind.startswith("s3")


def upload(storage, version: DocumentVersion, filename: str, data: bytes) -> str:
    name = storage.save(original_upload_to(version, filename), ContentFile(data))
    DocumentVersion.objects.filter(pk=version.pk).update(original=name, filename=filename, mime="text/plain")
    return name


def test_s3_settings_are_path_style_sigv4_and_checksum_when_required(monkeypatch, moto_s3):
    config = documents_config_from_settings(monkeypatch, s3_env(moto_s3, "heysh-settings-check"))
    assert config["BACKEND"] == "storages.backends.s3.S3Storage"
    client_config = config["OPTIONS"]["client_config"]
    assert client_config.s3 == {"addressing_style": "path"}
    assert client_config.signature_version == "s3v4"
    assert client_config.request_checksum_calculation == "when_required"
    assert client_config.response_checksum_validation == "when_required"
    assert config["OPTIONS"]["querystring_expire"] == 60


def test_save_open_and_delete_under_a_per_domain_prefix(documents_storage):
    domain = DomainFactory()
    version = make_version(domain=domain)
    name = upload(documents_storage, version, "report.txt", b"hello heysh")
    assert name.startswith(f"domains/{domain.pk}/documents/{version.document_id}/v1/")
    assert documents_storage.exists(name)
    with documents_storage.open(name, "rb") as handle:
        assert handle.read() == b"hello heysh"
    assert documents_storage.size(name) == 11
    documents_storage.delete(name)
    assert not documents_storage.exists(name)


def test_saving_the_same_name_never_overwrites(documents_storage):
    version = make_version(domain=DomainFactory())
    first = upload(documents_storage, version, "same.txt", b"one")
    second = upload(documents_storage, version, "same.txt", b"two")
    assert first != second
    with documents_storage.open(first, "rb") as handle:
        assert handle.read() == b"one"


def test_presigned_url_fetches_the_bytes_and_carries_the_expiry(s3_storage):
    documents_storage = s3_storage
    version = make_version(domain=DomainFactory())
    name = upload(documents_storage, version, "signed.txt", b"signed bytes")
    url = documents_storage.url(name)
    query = parse_qs(urlparse(url).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and query["X-Amz-Signature"]
    assert query["X-Amz-Expires"] == [str(documents_storage.querystring_expire)]
    response = requests.get(url, timeout=10)
    assert response.status_code == 200 and response.content == b"signed bytes"
    short = documents_storage.url(name, expire=1)
    assert parse_qs(urlparse(short).query)["X-Amz-Expires"] == ["1"]
    if documents_storage.kind == "s3-live":  # moto does not enforce expiry; a real server must
        time.sleep(2)
        assert requests.get(short, timeout=10).status_code == 403


def test_bucket_is_created_only_when_allowed(moto_s3, monkeypatch):
    config = documents_config_from_settings(monkeypatch, s3_env(moto_s3, f"heysh-fresh-{time.time_ns()}"))
    with override_settings(STORAGES={**_base_storages(), "documents": config}, S3_CREATE_BUCKET=False):
        with pytest.raises(ImproperlyConfigured, match="does not exist; create it or set HEYSH_S3_CREATE_BUCKET=true"):
            documents_bucket_ensure()
        assert documents_bucket_ensure(create=True) == "created"
        assert documents_bucket_ensure() == "exists"


def test_unreachable_s3_is_a_clear_error_without_secrets(monkeypatch):
    config = documents_config_from_settings(monkeypatch, s3_env("http://127.0.0.1:9", "heysh-nowhere"))
    config["OPTIONS"]["client_config"] = config["OPTIONS"]["client_config"].merge(
        __import__("botocore.config").config.Config(retries={"max_attempts": 1}, connect_timeout=1)
    )
    with override_settings(STORAGES={**_base_storages(), "documents": config}):
        with pytest.raises(ImproperlyConfigured) as info:
            documents_bucket_ensure()
    assert "unreachable" in str(info.value) and "heysh-test-secret" not in str(info.value)


# --- the download API -------------------------------------------------------------
def test_download_redirects_to_presigned_url_or_streams(documents_storage, client_for, user, domain):
    version = make_version(domain=domain, title="Report")
    upload(documents_storage, version, 'report "final".txt', b"the original bytes")
    response = client_for(user).get(f"/api/v1/documents/{version.document_id}/download")
    assert response["Cache-Control"] == "private, no-store"
    if is_s3(documents_storage):
        assert response.status_code == 302
        location = response["Location"]
        assert location.startswith(documents_storage.endpoint_url or "https://")
        assert "X-Amz-Signature=" in location and "response-content-disposition=attachment" in location
        fetched = requests.get(location, timeout=10)
        assert fetched.status_code == 200 and fetched.content == b"the original bytes"
    else:
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == b"the original bytes"
        assert response["Content-Disposition"].startswith("attachment;")


def test_download_of_another_domains_document_is_404(documents_storage, client_for, user, domain):
    other = make_version(domain=DomainFactory(), title="Secret")
    upload(documents_storage, other, "secret.txt", b"not yours")
    response = client_for(user).get(f"/api/v1/documents/{other.document_id}/download")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert "Location" not in response


def test_download_without_an_original_file_is_a_clear_404(client_for, user, domain):
    version = make_version(domain=domain)  # pasted text: no original
    response = client_for(user).get(f"/api/v1/documents/{version.document_id}/download")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "no_original"
    assert client_for(user).get(f"/api/v1/documents/{version.document_id}/download?version=x").status_code == 400
    assert client_for(user).get("/api/v1/documents/999999/download").status_code == 404


def test_download_requires_authentication(api_client, domain):
    version = make_version(domain=domain)
    assert api_client.get(f"/api/v1/documents/{version.document_id}/download").status_code == 401


def test_download_is_signed_for_the_public_endpoint_and_fetched_under_that_name(
    s3_storage, client_for, user, domain, settings
):
    """The app reaches S3 at its internal address; the browser at another host name (Caddy in
    front of MinIO). SigV4 signs the Host header, so the URL must be signed for the public name."""
    internal = urlparse(s3_storage.endpoint_url)
    public = os.environ.get("HEYSH_S3_LIVE_PUBLIC_ENDPOINT_URL") if s3_storage.kind == "s3-live" else None
    if s3_storage.kind == "s3-live" and not public:
        pytest.skip("live server not configured: set HEYSH_S3_LIVE_PUBLIC_ENDPOINT_URL")
    # moto on loopback: "localhost" is another host name for the same server.
    public = public or f"{internal.scheme}://localhost:{internal.port}"
    assert urlparse(public).hostname != internal.hostname
    settings.S3_PUBLIC_ENDPOINT_URL = public
    version = make_version(domain=domain, title="Public")
    upload(s3_storage, version, "public.txt", b"fetched through the public name")
    response = client_for(user).get(f"/api/v1/documents/{version.document_id}/download")
    assert response.status_code == 302
    location = urlparse(response["Location"])
    assert f"{location.scheme}://{location.netloc}" == public
    query = parse_qs(location.query)
    assert query["X-Amz-SignedHeaders"] == ["host"] and query["X-Amz-Expires"] == [str(s3_storage.querystring_expire)]
    assert query["response-content-disposition"] == ['attachment; filename="public.txt"']
    fetched = requests.get(response["Location"], timeout=10)
    assert fetched.status_code == 200 and fetched.content == b"fetched through the public name"
    settings.S3_PUBLIC_ENDPOINT_URL = None
    unset = urlparse(client_for(user).get(f"/api/v1/documents/{version.document_id}/download")["Location"])
    assert unset.hostname == internal.hostname  # without it: signed for the endpoint itself
