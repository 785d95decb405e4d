"""Document services: intake (validate, deduplicate, store, start the run) and lifecycle.

Everything a caller can get wrong is refused here, BEFORE anything is stored or
queued, with a ``ServiceError`` the API turns into a clear 4xx:

- empty → invalid (400), larger than ``MAX_UPLOAD_MB`` → ``TooLarge`` (413), a type not
  supported or not matching its name → ``Unsupported`` (415) (the type is sniffed from
  the bytes, see parsers/sniff.py);
- identical bytes already in the domain → the existing document, no second run.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Max
from django.utils.text import get_valid_filename
from simple_history.utils import bulk_create_with_history

from apps.core.bulk import rows_update
from apps.core.exceptions import Conflict, ServiceError, TooLarge, Unsupported
from apps.core.locks import domain_graph_lock
from apps.core.netguard import check_literal_host
from apps.core.projection_outbox import projection_deletes_record
from apps.documents.analysis import max_document_bytes, sha256
from apps.documents.errors import PermanentError
from apps.documents.models import Document, DocumentStatus, DocumentVersion, ProcessingRun, StepRun, documents_storage
from apps.documents.parsers import sniff
from apps.documents.parsers.archive import check_archive
from apps.documents.parsers.text import first_line_title
from apps.documents.parsers.types import DOCX, PLAIN
from apps.documents.signals import document_deleting
from apps.documents.workflow import run_restart, run_retry_failed, run_start, runs_start
from apps.domains.models import Domain
from apps.domains.services import domains_index_invalidate

logger = logging.getLogger(__name__)

# How a refused input's PermanentError code is reported; any other code is a type that cannot be handled.
ERROR_FOR_CODE = {
    "empty": ServiceError,
    "too_large": TooLarge,
    "invalid_url": ServiceError,
    "forbidden_address": ServiceError,
}


@dataclass(frozen=True)
class Intake:
    """A validated submission, ready to be stored: the bytes (none for a URL), their type and hash."""

    source: str
    title: str
    data: bytes = b""
    filename: str = ""
    mime: str = ""
    content_hash: str = ""
    url: str = ""


def _refused(exc: PermanentError) -> ServiceError:
    return ERROR_FOR_CODE.get(exc.code, Unsupported)(exc.message, code=exc.code)


def _too_large() -> TooLarge:
    return TooLarge(f"The document is larger than the {settings.MAX_UPLOAD_MB} MB limit.")


def _read_upload(upload) -> bytes:
    limit = max_document_bytes()
    size = getattr(upload, "size", None)
    if size is not None and size > limit:
        raise _too_large()
    if hasattr(upload, "seek"):
        upload.seek(0)
    data = bytearray()
    chunks = upload.chunks() if hasattr(upload, "chunks") else iter(lambda: upload.read(1024 * 1024), b"")
    for piece in chunks:
        data.extend(piece)
        if len(data) > limit:
            raise _too_large()
    return bytes(data)


def _safe_filename(name: str) -> str:
    base = PurePosixPath((name or "").replace("\\", "/")).name
    try:
        cleaned = get_valid_filename(base)
    except Exception:  # SuspiciousFileOperation for names like ".."
        cleaned = ""
    stem, suffix = PurePosixPath(cleaned).stem[:150], PurePosixPath(cleaned).suffix[:10]
    return f"{stem}{suffix}" if stem else f"document{suffix}"


def _checked_bytes(data: bytes, *, filename: str, declared: str = "") -> str:
    if not data.strip():
        raise ServiceError("The document is empty.", code="empty")
    try:
        mime = sniff(data, filename=filename, declared=declared)
        if mime == DOCX:
            check_archive(data)  # zip bombs are refused before anything is stored
    except PermanentError as exc:
        raise _refused(exc)
    return mime


def intake_prepare(*, upload=None, text: str | None = None, title: str | None = None, url: str | None = None) -> Intake:
    """Validate one submission (exactly one of upload, text, url) without storing anything."""
    given = [name for name, value in (("file", upload), ("text", text), ("url", url or None)) if value is not None]
    if len(given) != 1:
        raise ServiceError("Send exactly one of: a file, text, or a URL.")
    title = (title or "").strip()[:300]
    if upload is not None:
        filename = _safe_filename(getattr(upload, "name", "") or "document")
        data = _read_upload(upload)
        mime = _checked_bytes(data, filename=filename, declared=getattr(upload, "content_type", "") or "")
        return Intake(
            source=Document.Source.UPLOAD,
            title=title or PurePosixPath(filename).stem or filename,
            data=data,
            filename=filename,
            mime=mime,
            content_hash=sha256(data),
        )
    if text is not None:
        data = text.encode("utf-8")
        if len(data) > max_document_bytes():
            raise _too_large()
        mime = _checked_bytes(data, filename="", declared=PLAIN)
        return Intake(
            source=Document.Source.TEXT,
            title=title or first_line_title(text) or "Untitled text",
            data=data,
            filename="text.txt",
            mime=mime,
            content_hash=sha256(data),
        )

    url = url.strip()
    if len(url) > 2000:
        raise ServiceError("The URL is longer than 2000 characters.", code="invalid_url")
    try:
        check_literal_host(url, allow_private=settings.FETCH_ALLOW_PRIVATE)
    except PermanentError as exc:
        raise _refused(exc)
    return Intake(source=Document.Source.URL, title=title or url[:300], url=url)


def _existing(domain: Domain, intake: Intake) -> Document | None:
    if intake.content_hash:
        version = (
            DocumentVersion.objects.filter(domain=domain, content_hash=intake.content_hash)
            .select_related("document")
            .first()
        )
        return version.document if version else None
    return Document.objects.filter(domain=domain, source=Document.Source.URL, source_url=intake.url).first()


URL_INTAKE_LOCK_NAMESPACE = 7202  # first key of pg_advisory_xact_lock(namespace, hash of domain and URL)


def _lock_url_intake(domain: Domain, url: str) -> None:
    """Hold, until the transaction ends, the lock of (domain, URL). PostgreSQL: an advisory
    lock. SQLite needs none: its transactions start IMMEDIATE (settings), one writer at a time."""
    if connection.vendor != "postgresql":
        return
    key = int.from_bytes(hashlib.sha256(f"{domain.pk}\n{url}".encode()).digest()[:4], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [URL_INTAKE_LOCK_NAMESPACE, key])


def _creator(user):
    # An API key principal is no Django user.
    return user if getattr(user, "pk", None) else None


def _store(version: DocumentVersion, intake: Intake) -> None:
    if intake.data:
        version.original.save(intake.filename, ContentFile(intake.data), save=False)


def _discard(name: str) -> None:
    if name:
        try:
            documents_storage().delete(name)
        except OSError:
            logger.warning("could not delete stored original %s", name)


def document_create_from_intake(*, domain: Domain, user, intake: Intake, request_id: str = "") -> tuple[Document, bool]:
    existing = _existing(domain, intake)
    if existing is not None:
        return existing, False
    version = None
    try:
        with transaction.atomic():
            if not intake.content_hash:
                # A URL has no content hash (nor a unique constraint) before it is fetched:
                # concurrent submissions of one URL are serialized here and re-checked.
                _lock_url_intake(domain, intake.url)
                existing = _existing(domain, intake)
                if existing is not None:
                    return existing, False
            document = Document.objects.create(
                domain=domain,
                title=intake.title,
                source=intake.source,
                source_url=intake.url,
                status=DocumentStatus.PENDING,
                created_by=_creator(user),
            )
            version = DocumentVersion(
                document=document,
                domain=domain,
                number=1,
                filename=intake.filename,
                content_hash=intake.content_hash,
                mime=intake.mime,
                size=len(intake.data),
            )
            _store(version, intake)
            version.save()
            # A queryset update: no second history row for a field the pipeline maintains.
            Document.objects.filter(pk=document.pk).update(current_version=version)
            run_start(version=version, request_id=request_id)
    except IntegrityError:
        # The same content arrived concurrently: the other request's document wins.
        _discard(version.original.name if version is not None and version.original else "")
        existing = _existing(domain, intake)
        if existing is None:
            raise
        logger.info("identical content arrived concurrently; returning document %s", existing.pk)
        return existing, False
    except BaseException:
        _discard(version.original.name if version is not None and version.original else "")
        raise
    document.refresh_from_db()
    logger.info(
        "document %s created in domain %s (%s, %s)", document.pk, domain.slug, intake.source, intake.mime or "url"
    )
    return document, True


def document_create(
    *,
    domain: Domain,
    user,
    upload=None,
    text: str | None = None,
    title: str | None = None,
    url: str | None = None,
    request_id: str = "",
) -> tuple[Document, bool]:
    """Validate, deduplicate, store and start processing one document. ``created`` is False for identical content."""
    intake = intake_prepare(upload=upload, text=text, title=title, url=url)
    return document_create_from_intake(domain=domain, user=user, intake=intake, request_id=request_id)


def documents_create_many(
    *, domain: Domain, user, intakes: list[Intake], request_id: str = ""
) -> list[tuple[Document, bool]]:
    """``document_create_from_intake`` for many validated submissions, in one transaction.

    For bulk loads (``manage.py ingest``): the documents, versions, runs and steps are
    written with a few statements and analysis is sent in batches. Content already in the
    domain, or repeated within ``intakes``, returns the existing (or first) document with
    ``created`` False, as for one submission. If identical content arrives concurrently
    from elsewhere, the batch falls back to one submission at a time. Returns one
    (document, created) per intake, in order.
    """

    if not intakes:
        return []
    hashes = {i.content_hash for i in intakes if i.content_hash}
    urls = {i.url for i in intakes if i.url and not i.content_hash}
    known: dict[str, Document] = {}
    for version in DocumentVersion.objects.filter(domain=domain, content_hash__in=hashes).select_related("document"):
        known.setdefault(version.content_hash, version.document)
    for document in Document.objects.filter(domain=domain, source=Document.Source.URL, source_url__in=urls):
        known.setdefault(document.source_url, document)
    fresh: dict[str, Intake] = {}  # first intake of each new content (or URL)
    for intake in intakes:
        key = intake.content_hash or intake.url
        if key not in known:
            fresh.setdefault(key, intake)
    stored: list[str] = []
    try:
        with transaction.atomic():
            documents = bulk_create_with_history(
                [
                    Document(
                        domain=domain,
                        title=i.title,
                        source=i.source,
                        source_url=i.url,
                        status=DocumentStatus.PENDING,
                        created_by=_creator(user),
                    )
                    for i in fresh.values()
                ],
                Document,
                default_user=_creator(user),
            )
            versions = []
            for document, intake in zip(documents, fresh.values(), strict=True):
                version = DocumentVersion(
                    document=document,
                    domain=domain,
                    number=1,
                    filename=intake.filename,
                    content_hash=intake.content_hash,
                    mime=intake.mime,
                    size=len(intake.data),
                )
                _store(version, intake)
                if version.original:
                    stored.append(version.original.name)
                versions.append(version)
            DocumentVersion.objects.bulk_create(versions)
            for document, version in zip(documents, versions, strict=True):
                document.current_version = version
            # A statement, not save(): no second history row for a field the pipeline maintains.
            rows_update(
                Document, {d.pk: {"current_version": d.current_version_id} for d in documents}, ["current_version"]
            )
            runs_start(versions=versions, request_id=request_id)
    except IntegrityError:
        # Identical content arrived concurrently: let each submission find its winner.
        for name in stored:
            _discard(name)
        logger.info("identical content arrived during a bulk submission; submitting one at a time")
        return [document_create_from_intake(domain=domain, user=user, intake=i, request_id=request_id) for i in intakes]
    except BaseException:
        for name in stored:
            _discard(name)
        raise
    created_ids = set()
    for document, key in zip(documents, fresh, strict=True):
        document.status = DocumentStatus.PROCESSING
        known[key] = document
        created_ids.add(document.pk)
    outcome, seen = [], set()
    for intake in intakes:
        document = known[intake.content_hash or intake.url]
        outcome.append((document, document.pk in created_ids and document.pk not in seen))
        seen.add(document.pk)
    logger.info(
        "%d documents created in domain %s (%d duplicates)", len(documents), domain.slug, len(intakes) - len(documents)
    )
    return outcome


# Submissions ``documents_create_bulk`` creates per transaction, and the most bytes it holds
# in memory before creating them.
BULK_BATCH_DOCUMENTS = 200
BULK_BATCH_BYTES = 64 * 1024 * 1024


@dataclass
class BulkIntake:
    """What ``documents_create_bulk`` did with each labelled submission."""

    created: list[int] = field(default_factory=list)  # ids of the new documents, in submission order
    duplicates: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (label, reason)
    document_of: dict[str, int] = field(default_factory=dict)  # label -> its document's id (new or existing)


def documents_create_bulk(
    *,
    domain: Domain,
    user,
    submissions: Iterable[tuple[str, Callable[[], Intake]]],
    progress: Callable[[int], None] | None = None,
    batch_documents: int = BULK_BATCH_DOCUMENTS,
    batch_bytes: int = BULK_BATCH_BYTES,
    request_id: str = "",
) -> BulkIntake:
    """Validate and create many documents: each ``(label, prepare)`` is validated by calling
    ``prepare`` (``intake_prepare`` for one file or text), and valid ones are created together
    by ``documents_create_many``, ``batch_documents`` (or ``batch_bytes``) at a time, so a bulk
    load costs a few statements and analysis messages per batch, not per document.

    A refused submission (``ServiceError``) is recorded with its reason and the others go on.
    ``progress(n)`` is called as submissions are settled (created, found identical or refused).
    This is the intake of ``manage.py ingest`` and ``manage.py evaluate``.
    """
    outcome = BulkIntake()
    pending: list[tuple[str, Intake]] = []
    pending_bytes = 0

    def submit() -> None:
        nonlocal pending_bytes
        if not pending:
            return
        created = documents_create_many(domain=domain, user=user, intakes=[i for _, i in pending], request_id=request_id)
        for (label, _), (document, is_new) in zip(pending, created, strict=True):
            outcome.document_of[label] = document.pk
            if is_new:
                outcome.created.append(document.pk)
            else:
                outcome.duplicates += 1
        if progress:
            progress(len(pending))
        pending.clear()
        pending_bytes = 0

    for label, prepare in submissions:
        try:
            intake = prepare()
        except ServiceError as exc:
            outcome.rejected.append((label, exc.message))
            if progress:
                progress(1)
            continue
        pending.append((label, intake))
        pending_bytes += len(intake.data)
        if len(pending) >= batch_documents or pending_bytes >= batch_bytes:
            submit()
    submit()
    return outcome


def document_new_version(
    *, document: Document, user, upload=None, text: str | None = None, request_id: str = ""
) -> tuple[DocumentVersion, bool]:
    """Upload a new version (number + 1) and process it; the current version stays until the new one is ready.

    A URL document without upload or text is fetched again. Content identical to one of this
    document's versions returns that version (``created`` False); identical to another document is a 409.
    """
    if upload is None and text is None:
        if document.source != Document.Source.URL:
            raise Conflict(
                "This document has no URL to fetch again; send a file or a text.", code="nothing_to_fetch"
            )
        intake = Intake(source=Document.Source.URL, title=document.title, url=document.source_url)
    else:
        intake = intake_prepare(upload=upload, text=text)
    if intake.content_hash:
        same = DocumentVersion.objects.filter(domain_id=document.domain_id, content_hash=intake.content_hash).first()
        if same is not None:
            if same.document_id == document.pk:
                return same, False
            raise Conflict(
                "The same content is already in this domain as another document.",
                code="duplicate",
                detail={"document_id": same.document_id},
            )
    version = None
    try:
        with transaction.atomic():
            Document.objects.select_for_update().filter(pk=document.pk).first()
            number = (DocumentVersion.objects.filter(document=document).aggregate(n=Max("number"))["n"] or 0) + 1
            version = DocumentVersion(
                document=document,
                domain_id=document.domain_id,
                number=number,
                filename=intake.filename,
                content_hash=intake.content_hash,
                mime=intake.mime,
                size=len(intake.data),
            )
            _store(version, intake)
            version.save()
            run_start(version=version, request_id=request_id)
    except BaseException:
        _discard(version.original.name if version is not None and version.original else "")
        raise
    return version, True


DELETE_ATTEMPTS = 3


def document_delete(*, document: Document) -> None:
    """Delete the document's rows and stored files; the projections catch up from the outbox.

    The database is the source of truth, so a projection that is down never fails the delete:
    what Neo4j and Weaviate must remove is recorded in the same transaction and applied after
    commit (and by beat until done). The domain's graph lock is taken before any row lock, in
    the order the graph step takes them; a delete that still races a processing run (rows
    added between collecting and deleting them) is retried from the start."""
    documents_delete_many(domain_id=document.domain_id, document_ids=[document.pk])


def documents_delete_many(*, domain_id: int, document_ids: list[int]) -> None:
    """``document_delete`` for many documents of one domain, in one transaction: one graph
    prune, one outbox record and one keyword-engine commit for them all (``manage.py
    evaluate`` removes thousands this way)."""
    if not document_ids:
        return
    for attempt in range(1, DELETE_ATTEMPTS + 1):
        try:
            versions, names = _documents_delete_rows(domain_id, document_ids)
            break
        except (IntegrityError, OperationalError) as exc:
            if attempt == DELETE_ATTEMPTS or not _is_race(exc):
                raise
            logger.info("deleting documents %s raced a processing run (%s); retrying", document_ids[:10], type(exc).__name__)
    transaction.on_commit(lambda: [_discard(name) for name in names])
    logger.info("%d document(s) deleted (%d versions) from domain %s", len(document_ids), len(versions), domain_id)


def _documents_delete_rows(domain_id: int, document_ids: list[int]) -> tuple[list[int], list[str]]:
    with transaction.atomic():
        domain_graph_lock(domain_id)
        versions = list(
            DocumentVersion.objects.filter(domain_id=domain_id, document_id__in=document_ids).values_list("pk", "original")
        )
        version_ids = [pk for pk, _ in versions]
        # Listeners look at what the documents supported before their rows go (the graph's
        # entities and relations) and tidy up after, in this transaction.
        after = [
            cleanup
            for _, cleanup in document_deleting.send(sender=Document, domain_id=domain_id, version_ids=version_ids)
            if cleanup
        ]
        Document.objects.filter(domain_id=domain_id, pk__in=document_ids).delete()
        for cleanup in after:
            cleanup()
        projection_deletes_record(domain_id=domain_id, version_ids=version_ids)
        domains_index_invalidate([domain_id])
    return version_ids, [name for _, name in versions if name]


def _is_race(exc: Exception) -> bool:
    """A foreign-key violation (a row added under the delete) or a deadlock / serialization failure."""
    if isinstance(exc, IntegrityError):
        return True
    code = getattr(exc.__cause__, "sqlstate", None) or getattr(exc.__cause__, "pgcode", None)
    return code in ("40P01", "40001")


def _latest_version(document: Document) -> DocumentVersion:
    version = DocumentVersion.objects.filter(document=document).order_by("-number").first()
    if version is None:
        raise Conflict("The document has no version to process.")
    return version


def document_reprocess(*, document: Document, request_id: str = "") -> ProcessingRun:
    """Process the latest version again from the start (its chunks and projections are replaced)."""
    version = _latest_version(document)
    run = ProcessingRun.objects.filter(version=version).first()
    if run is None:
        return run_start(version=version, request_id=request_id)
    return run_restart(run=run)


def document_retry_failed(*, document: Document) -> ProcessingRun:
    """Re-queue the failed steps of the latest run; Conflict when nothing failed."""
    version = _latest_version(document)
    run = ProcessingRun.objects.filter(version=version).first()
    if run is None or not StepRun.objects.filter(run=run, status=StepRun.Status.FAILED).exists():
        raise Conflict("Nothing to retry: no step of the latest run has failed.")
    return run_retry_failed(run=run)
