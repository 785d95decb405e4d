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
        raise NotFound("This document version has no original file (it was pasted text or is not fetched yet).",
                       code="no_original")
    return version


def download_filename(version: DocumentVersion) -> str:
    return version.filename or version.original.name.rsplit("/", 1)[-1]


def presigned_download_url(*, version: DocumentVersion) -> str:
    storage = documents_storage()
    filename = download_filename(version).replace('"', "")
    return storage.url(
        version.original.name,
        parameters={
            "ResponseContentDisposition": f'attachment; filename="{filename}"',
            **({"ResponseContentType": version.mime} if version.mime else {}),
        },
    )


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
    kwargs = {} if not region or region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    try:
        client.create_bucket(Bucket=bucket, **kwargs)
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code", "")) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise ImproperlyConfigured(f"Could not create S3 bucket {bucket!r} ({type(exc).__name__}).")
    return "created"
