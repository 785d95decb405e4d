"""Rebuild a domain's graph or vector projection from PostgreSQL, from scratch."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from apps.search.reconcile import BACKENDS, rebuild_domain, rebuild_version_count


class Command(BaseCommand):
    help = "Drop a domain's projection (Neo4j graph, Weaviate vectors or the keyword index) and re-project every version from the database."

    def add_arguments(self, parser):
        parser.add_argument("--domain", required=True, metavar="SLUG", help="Slug of the domain to rebuild.")
        parser.add_argument("--backend", required=True, choices=BACKENDS, help="Which projection to rebuild.")
        parser.add_argument("--no-progress", action="store_true", help="Do not draw a progress bar.")

    def handle(self, *args, domain: str, backend: str, no_progress: bool, **options):
        from apps.domains.models import Domain

        try:
            target = Domain.objects.get(slug=domain)
        except Domain.DoesNotExist:
            raise CommandError(f"No domain with slug {domain!r}.")
        total = rebuild_version_count(domain=target, backend=backend)
        with tqdm(total=total, unit="version", desc=f"{backend} {target.slug}", disable=no_progress,
                  file=self.stderr._out) as bar:
            written = rebuild_domain(domain=target, backend=backend, progress=bar.update)
        self.stdout.write(self.style.SUCCESS(f"Rebuilt the {backend} projection of {target.slug}: {written} version(s)."))
