"""Bulk-load documents into a domain: files, directories (recursively) and BEIR ``corpus.jsonl`` files.

    manage.py ingest docs/ notes.md ../shared/eval/cranfield/corpus.jsonl --domain demo --wait

Each file goes through the same intake as the API (validation, deduplication, a
processing run); valid submissions are created in batches of up to 200 (one transaction
each, ``documents_create_bulk``) and their analysis is sent in batches too. A BEIR corpus line becomes a text document: its title, a blank line
and its text (the usual BEIR "title + text" input), titled with the title or the _id.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count
from tqdm import tqdm

from apps.documents.models import ProcessingRun, StepRun
from apps.documents.services import Intake, documents_create_bulk, intake_prepare
from apps.domains.models import Domain


@dataclass
class Item:
    label: str
    path: Path | None = None
    text: str | None = None
    title: str | None = None


def _is_corpus(path: Path) -> bool:
    return path.suffix == ".jsonl"


def _corpus_items(path: Path) -> Iterator[Item]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            label = f"{path.name}:{number}"
            try:
                record = json.loads(line)
            except ValueError:
                yield Item(label=label, text="", title="invalid JSON line")
                continue
            title = str(record.get("title") or "").strip()
            body = str(record.get("text") or "").strip()
            doc_id = str(record.get("_id") or number)
            text = f"{title}\n\n{body}" if title and body else body
            yield Item(label=f"{label} ({doc_id})", text=text, title=title or doc_id)


def _count(paths: list[Path]) -> int:
    total = 0
    for path in paths:
        if _is_corpus(path):
            with path.open(encoding="utf-8") as handle:
                total += sum(1 for line in handle if line.strip())
        else:
            total += 1
    return total


def _expand(arguments: list[str]) -> list[Path]:
    paths: list[Path] = []
    for argument in arguments:
        path = Path(argument)
        if not path.exists():
            raise CommandError(f"No such file or directory: {argument}")
        if path.is_dir():
            paths.extend(
                sorted(p for p in path.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts))
            )
        else:
            paths.append(path)
    return paths


def _preparer(item: Item) -> Callable[[], Intake]:
    """Validates the item when called (a file is read only then, one batch in memory at a time)."""

    def prepare() -> Intake:
        if item.path is None:
            return intake_prepare(text=item.text or "", title=item.title)
        with item.path.open("rb") as handle:
            return intake_prepare(upload=File(handle, name=item.path.name))

    return prepare


def _items(paths: list[Path]) -> Iterator[Item]:
    for path in paths:
        if _is_corpus(path):
            yield from _corpus_items(path)
        else:
            yield Item(label=str(path), path=path)


class Command(BaseCommand):
    help = "Ingest files, directories and BEIR corpus.jsonl files into a domain through the document pipeline."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", help="Files, directories (recursive) or BEIR corpus.jsonl files.")
        parser.add_argument("--domain", required=True, help="Slug of the target domain.")
        parser.add_argument("--user", help="Username recorded as the uploader.")
        parser.add_argument("--wait", action="store_true", help="Show progress until every new document's run has finished.")
        parser.add_argument("--timeout", type=float, default=3600, help="With --wait: give up waiting after this many seconds.")

    def handle(self, *args, **options):
        domain = Domain.objects.filter(slug=options["domain"]).first()
        if domain is None:
            raise CommandError(f"No domain with slug “{options['domain']}”.")
        user = None
        if options["user"]:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"No user “{options['user']}”.")
        paths = _expand(options["paths"])

        with tqdm(total=_count(paths), unit="doc", desc="ingest", disable=options["verbosity"] == 0) as bar:
            outcome = documents_create_bulk(
                domain=domain, user=user, submissions=((item.label, _preparer(item)) for item in _items(paths)), progress=bar.update
            )

        self.stdout.write(f"created: {len(outcome.created)}  duplicate: {outcome.duplicates}  rejected: {len(outcome.rejected)}")
        for label, reason in outcome.rejected:
            self.stdout.write(f"  rejected {label}: {reason}")
        if options["wait"] and outcome.created:
            self._wait(outcome.created, timeout=options["timeout"], quiet=options["verbosity"] == 0)

    def _wait(self, document_ids: list[int], *, timeout: float, quiet: bool) -> None:
        finished_statuses = (ProcessingRun.Status.SUCCEEDED, ProcessingRun.Status.FAILED)
        deadline = time.monotonic() + timeout
        runs = ProcessingRun.objects.filter(document_id__in=document_ids)
        total = runs.count()
        # One bar per step: on a large batch analysis and extraction finish long before the first whole run.
        bars = {
            step: tqdm(total=total, unit="doc", desc=f"{label:<20}", position=i, file=self.stderr, disable=quiet, mininterval=1.0)
            for i, (step, label) in enumerate(StepRun.Step.choices)
        }
        try:
            while True:
                counts = self._step_counts(runs)
                for step, bar in bars.items():
                    bar.update(counts.get((step, StepRun.Status.SUCCEEDED), 0) - bar.n)
                    bar.set_postfix_str(self._step_postfix(counts, step), refresh=False)
                done = runs.filter(status__in=finished_statuses).count()
                if done >= total or time.monotonic() > deadline:
                    break
                time.sleep(1)
        finally:
            for bar in bars.values():
                bar.close()
        for step, label in StepRun.Step.choices:
            self.stdout.write(f"  {label}: {counts.get((step, StepRun.Status.SUCCEEDED), 0)} of {total} done"
                              f"{', ' + self._step_postfix(counts, step) if self._step_postfix(counts, step) else ''}")
        succeeded = runs.filter(status=ProcessingRun.Status.SUCCEEDED).count()
        failed = list(runs.filter(status=ProcessingRun.Status.FAILED).select_related("document"))
        pending = total - succeeded - len(failed)
        self.stdout.write(f"ready: {succeeded}  failed: {len(failed)}  unfinished: {pending}")
        for run in failed:
            self.stdout.write(f"  failed “{run.document.title}”: {run.error}")
        if pending:
            raise CommandError(f"{pending} run(s) still unfinished after {timeout:g} s.")

    @staticmethod
    def _step_counts(runs) -> dict[tuple[str, str], int]:
        rows = StepRun.objects.filter(run__in=runs).values_list("step", "status").annotate(n=Count("id"))
        return {(step, status): n for step, status, n in rows}

    @staticmethod
    def _step_postfix(counts: dict[tuple[str, str], int], step: str) -> str:
        running = counts.get((step, StepRun.Status.RUNNING), 0)
        failed = counts.get((step, StepRun.Status.FAILED), 0)
        return ", ".join(part for part in [f"{running} running" if running else "", f"{failed} failed" if failed else ""] if part)
