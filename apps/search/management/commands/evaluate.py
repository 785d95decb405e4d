"""python manage.py evaluate DATASET_DIR [--json] [--limit-queries N] [--keep] [--group documents|chunks]

Ingests a BEIR-layout dataset into a fresh domain through the real document pipeline
(``documents_create_bulk``, the intake of ``manage.py ingest``, and the workflow's batched
step tasks, run in-process), then scores keyword,
vector, hybrid and hybrid+expand retrieval with nDCG@10 and Recall@100 through
``search_run`` — the function the search API calls — asking for the 100 best documents.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Count
from tqdm import tqdm

from apps.search.services.evaluation import MODES, dataset_load, evaluate_domain, evaluation_queries

# Documents removed per transaction when the evaluation domain is cleaned up.
CLEANUP_BATCH = 500


class Command(BaseCommand):
    help = "Evaluate retrieval quality (nDCG@10, Recall@100) on a BEIR-layout dataset through the real pipeline."

    def add_arguments(self, parser):
        parser.add_argument("dataset_dir")
        parser.add_argument("--json", action="store_true", help="Print exactly one JSON object.")
        parser.add_argument("--limit-queries", type=int, default=None, metavar="N", help="Evaluate only the first N queries.")
        parser.add_argument("--keep", action="store_true", help="Keep the evaluation domain (and its user) afterwards.")
        parser.add_argument("--domain", default=None, help="Reuse a domain kept by an earlier --keep run instead of ingesting.")
        parser.add_argument("--modes", default=",".join(MODES), help="Comma-separated subset of: " + ", ".join(MODES))
        parser.add_argument(
            "--group", choices=["documents", "chunks"], default="documents",
            help="Rank the 100 best documents (default), or the documents of the 100 best chunks (fewer when a "
            "document has several chunks among them; the ranking before group=documents existed, for comparison).",
        )
        parser.add_argument(
            "--keyword-ranker", choices=["bm25", "postgres"], default="bm25",
            help="Keyword channel: the BM25 index (default) or PostgreSQL ts_rank_cd (for comparison).",
        )

    def _log(self, message: str) -> None:
        if not self.as_json:
            self.stdout.write(message)
        else:
            self.stderr.write(message)

    def handle(self, *args, dataset_dir, json: bool = False, limit_queries=None, keep=False, domain=None, modes="", keyword_ranker="bm25", group="documents", **options):
        import logging

        from apps.search.services import search as search_module

        self.as_json = json
        quiet = {}
        if options.get("verbosity", 1) < 2:
            # Per-step pipeline logs would drown the report.
            for name in ("apps", "celery", "heysh", "sentence_transformers", "tasks"):
                quiet[name] = logging.getLogger(name).level
                logging.getLogger(name).setLevel(logging.WARNING)
        previous_ranker, search_module.KEYWORD_RANKER = search_module.KEYWORD_RANKER, keyword_ranker
        try:
            self._run(dataset_dir, limit_queries=limit_queries, keep=keep, domain=domain, modes=modes, group=group)
        finally:
            search_module.KEYWORD_RANKER = previous_ranker
            for name, level in quiet.items():
                logging.getLogger(name).setLevel(level)

    def _run(self, dataset_dir, *, limit_queries, keep, domain, modes, group):
        try:
            dataset = dataset_load(dataset_dir)
        except (FileNotFoundError, ValueError, KeyError) as exc:
            raise CommandError(f"Cannot read the dataset: {exc}")
        wanted = [m.strip() for m in modes.split(",") if m.strip()]
        unknown = [m for m in wanted if m not in MODES]
        if unknown:
            raise CommandError(f"Unknown mode(s): {', '.join(unknown)}; use: {', '.join(MODES)}")
        if domain:
            target, user, doc_ids = self._reuse(domain, dataset)
        else:
            target, user = self._fresh_domain()
            doc_ids = self._ingest(target, user, dataset)
        total = len(evaluation_queries(dataset, limit_queries=limit_queries)) * len(wanted)
        progress = tqdm(total=total, unit="query", desc="searching", file=self.stderr, mininterval=1.0)
        try:
            report = evaluate_domain(
                user=user, domain_slug=target.slug, dataset=dataset, doc_ids=doc_ids, modes=wanted, limit_queries=limit_queries,
                group=group, progress=progress.update,
            )
        finally:
            progress.close()
            if not keep and not domain:
                self._cleanup(target, user)
            elif keep:
                self._log(f"kept domain {target.slug!r} (reuse it with --domain {target.slug})")
        if self.as_json:
            self.stdout.write(_json_dumps({m: {"ndcg@10": round(r["ndcg@10"], 4), "recall@100": round(r["recall@100"], 4)} for m, r in report.items()}))
            return
        queries = next(iter(report.values()))["_queries"] if report else 0
        self.stdout.write(f"\n{queries} queries, {len(dataset.corpus)} documents\n")
        self.stdout.write(f"{'mode':<15} {'nDCG@10':>8} {'R@100':>8} {'p50 ms':>8}")
        for mode, r in report.items():
            self.stdout.write(f"{mode:<15} {r['ndcg@10']:>8.4f} {r['recall@100']:>8.4f} {r['_p50_ms']:>8.1f}")

    def _fresh_domain(self):
        from django.contrib.auth import get_user_model

        from apps.domains.models import Domain, Membership

        suffix = uuid.uuid4().hex[:8]
        with transaction.atomic():
            user = get_user_model().objects.create(username=f"evaluate-{suffix}", is_active=True)
            user.set_unusable_password()
            user.save()
            domain = Domain.objects.create(slug=f"evaluate-{suffix}", name=f"Evaluation {suffix}", created_by=user)
            Membership.objects.create(domain=domain, user=user, role=Membership.Role.OWNER)
        return domain, user

    def _reuse(self, slug, dataset):
        from apps.documents.models import DocumentVersion
        from apps.domains.models import Domain, Membership

        try:
            domain = Domain.objects.get(slug=slug)
        except Domain.DoesNotExist:
            raise CommandError(f"No domain {slug!r}.")
        membership = Membership.objects.filter(domain=domain, role=Membership.Role.OWNER).select_related("user").first()
        if membership is None:
            raise CommandError(f"Domain {slug!r} has no owner to search as.")
        by_hash: dict[str, list[str]] = {}
        for corpus_id, doc in dataset.corpus.items():
            by_hash.setdefault(hashlib.sha256(_source_text(corpus_id, doc).encode()).hexdigest(), []).append(corpus_id)
        doc_ids: dict[int, list[str]] = {}
        for document_id, content_hash in DocumentVersion.objects.filter(domain=domain).values_list("document_id", "content_hash"):
            doc_ids.setdefault(document_id, []).extend(by_hash.get(content_hash, []))
        return domain, membership.user, doc_ids

    def _ingest(self, domain, user, dataset) -> dict[int, list[str]]:
        """The corpus through ``documents_create_bulk`` (the intake of ``manage.py ingest``); the
        workflow's batched step tasks run in this process, each batch through every step before
        the next batch is created."""
        from celery import current_app as app

        from apps.documents.models import Document, DocumentStatus
        from apps.documents.services import documents_create_bulk, intake_prepare

        def submissions():
            for corpus_id, doc in dataset.corpus.items():
                text, title = _source_text(corpus_id, doc), doc["title"].strip() or corpus_id
                yield corpus_id, lambda text=text, title=title: intake_prepare(text=text, title=title)

        eager, propagates = app.conf.task_always_eager, app.conf.task_eager_propagates
        app.conf.task_always_eager, app.conf.task_eager_propagates = True, False
        started = time.perf_counter()
        # The bar goes to stderr, so --json still prints exactly one object on stdout.
        progress = tqdm(total=len(dataset.corpus), unit="doc", desc="ingesting", file=self.stderr, mininterval=1.0)
        try:
            # One creation batch per step batch: in eager mode a created batch runs through the
            # whole pipeline before the call returns, so the bar moves every few seconds.
            outcome = documents_create_bulk(
                domain=domain, user=user, submissions=submissions(), progress=progress.update,
                batch_documents=settings.STEP_BATCH_DOCUMENTS,
            )
        finally:
            progress.close()
            app.conf.task_always_eager, app.conf.task_eager_propagates = eager, propagates
        doc_ids: dict[int, list[str]] = {}
        for corpus_id, document_id in outcome.document_of.items():
            doc_ids.setdefault(document_id, []).append(corpus_id)
        statuses = dict(Document.objects.filter(domain=domain).values_list("status").annotate(n=Count("pk")).order_by())
        self._log(f"ingested {len(dataset.corpus)} documents in {time.perf_counter() - started:.1f} s: {statuses}")
        for corpus_id, reason in outcome.rejected:
            self._log(f"warning: document {corpus_id} was refused ({reason}); it is evaluated as missing")
        not_ready = sum(n for status, n in statuses.items() if status != DocumentStatus.READY)
        if not_ready:
            self._log(f"warning: {not_ready} documents are not READY; they are evaluated as missing")
        return doc_ids

    def _cleanup(self, domain, user):
        from apps.documents.models import Document
        from apps.documents.services import documents_delete_many

        document_ids = list(Document.objects.filter(domain=domain).order_by("pk").values_list("pk", flat=True))
        for start in range(0, len(document_ids), CLEANUP_BATCH):
            documents_delete_many(domain_id=domain.pk, document_ids=document_ids[start : start + CLEANUP_BATCH])
        domain.delete()
        user.delete()


def _source_text(corpus_id: str, doc: dict) -> str:
    """Title and text together, as BEIR feeds both to retrievers (the title is also the document's title)."""
    return "\n\n".join(part for part in (doc["title"].strip(), doc["text"].strip()) if part) or corpus_id


def _json_dumps(value) -> str:
    return json.dumps(value, sort_keys=False)
