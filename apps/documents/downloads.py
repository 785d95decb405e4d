"""Download a document's original file.

With S3/MinIO as the documents storage the API never streams the bytes itself: it
answers ``302`` to a presigned, short-lived URL (``HEYSH_S3_URL_EXPIRE_SECONDS``) and
the client fetches from the object store. With local storage it streams the file.
Scoped like every other read: a document outside the caller's domains is not found.
The API view is ``apps.documents.views.DocumentDownloadView``.
"""

from __future__ import annotations

import sys

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from storages.utils import clean_name

from apps.core.exceptions import NotFound
from apps.documents.models import Document, DocumentVersion, documents_storage
from apps.domains.access import readable_domains


def is_object_storage(storage) -> bool:
    # An S3Storage exists only once its module is loaded: asking costs no boto3 (+13 MB) where storage is local.
    s3 = sys.modules.get("storages.backends.s3")
    return s3 is not None and isinstance(storage, s3.S3Storage)


def document_version_for_download(*, user, document_id: int, number: int | None = None) -> DocumentVersion:
    """The readable document's version (current by default) that has an original file; NotFound otherwise."""
    document = Document.objects.filter(pk=document_id, domain__in=readable_domains(user)).first()
    if document is None:
        raise NotFound("Document not found.")
    versions = DocumentVersion.objects.filter(document=document)
    if number is not None:
        version = versions.filter(number=number).first()
    elif document.current_version_id:
        version = versions.filter(pk=document.current_version_id).first()
    else:
        version = versions.order_by("-number").first()
    if version is None:
        raise NotFound("Document version not found.")
    if not version.original:
        raise NotFound(
            "This document version has no original file (it was pasted text or is not fetched yet).", code="no_original"
        )
    return version


def download_filename(version: DocumentVersion) -> str:
    return version.filename or version.original.name.rsplit("/", 1)[-1]


def presigned_download_url(*, version: DocumentVersion) -> str:
    """Signed for ``HEYSH_S3_PUBLIC_ENDPOINT_URL`` when set (SigV4 covers the Host header, so a URL
    signed for the internal endpoint cannot be fetched under another name), else the endpoint."""
    storage = documents_storage()
    filename = download_filename(version).replace('"', "")
    parameters = {
        "ResponseContentDisposition": f'attachment; filename="{filename}"',
        **({"ResponseContentType": version.mime} if version.mime else {}),
    }
    public = settings.S3_PUBLIC_ENDPOINT_URL
    if not public:
        return storage.url(version.original.name, parameters=parameters)
    # The object's key exactly as S3Storage.url computes it (its location prefix, cleaned).
    key = storage._normalize_name(clean_name(version.original.name))
    return _public_client(storage, public).generate_presigned_url(
        "get_object",
        Params={"Bucket": storage.bucket_name, "Key": key, **parameters},
        ExpiresIn=storage.querystring_expire,
    )


_public_clients: dict[tuple, object] = {}


def _public_client(storage, endpoint: str):
    """A boto3 client for the public endpoint with the storage's credentials and config; signing
    needs no connection, so nothing is sent to that address from here."""
    key = (endpoint, storage.access_key, storage.secret_key, storage.region_name)
    client = _public_clients.get(key)
    if client is None:
        import boto3  # only with S3 storage configured: boto3 is heavy (+13 MB) where storage is local

        client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=storage.access_key,
            aws_secret_access_key=storage.secret_key,
            aws_session_token=storage.security_token,
            region_name=storage.region_name,
            config=storage.client_config,
        )
        _public_clients[key] = client
    return client


def documents_bucket_ensure(*, create: bool | None = None) -> str:
    """Check the S3 documents bucket exists; create it when allowed. Returns what happened.

    Run after migrate (so at every deploy's start). A bucket that is missing and may not
    be created, or an unreachable endpoint, is a clear ImproperlyConfigured (no secrets).
    """
    storage = documents_storage()
    if not is_object_storage(storage):
        return "local"
    create = settings.S3_CREATE_BUCKET if create is None else create
    client = storage.connection.meta.client
    bucket = storage.bucket_name
    try:
        client.head_bucket(Bucket=bucket)
        return "exists"
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise ImproperlyConfigured(f"S3 bucket {bucket!r} is not accessible ({code or type(exc).__name__}).")
    except BotoCoreError as exc:
        raise ImproperlyConfigured(f"S3 endpoint for bucket {bucket!r} is unreachable ({type(exc).__name__}).")
    if not create:
        raise ImproperlyConfigured(
            f"S3 bucket {bucket!r} does not exist; create it or set HEYSH_S3_CREATE_BUCKET=true to let heysh create it."
        )
    region = storage.region_name
    kwargs = (
        {} if not region or region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    )
    try:
        client.create_bucket(Bucket=bucket, **kwargs)
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code", "")) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise ImproperlyConfigured(f"Could not create S3 bucket {bucket!r} ({type(exc).__name__}).")
    return "created"
