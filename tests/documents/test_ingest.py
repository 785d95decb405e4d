"""manage.py ingest and the bundled sample corpus."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.documents.analysis import analyze_version
from apps.documents.models import Chunk, Document, ProcessingRun
from apps.documents.sample import ingest_sample_corpus, sample_files, sample_title
from tests.documents import files

pytestmark = pytest.mark.django_db


def _ingest(*args) -> str:
    out = StringIO()
    call_command("ingest", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_ingest_files_directories_and_beir_corpus(tmp_path, domain, user):
    (tmp_path / "docs" / "nested").mkdir(parents=True)
    (tmp_path / "docs" / "a.md").write_bytes(files.MARKDOWN)
    (tmp_path / "docs" / "nested" / "b.html").write_bytes(files.HTML)
    (tmp_path / "docs" / "nested" / "dup.md").write_bytes(files.MARKDOWN)
    (tmp_path / "docs" / "photo.pdf").write_bytes(files.PNG_1PX)
    (tmp_path / "docs" / ".hidden.txt").write_text("ignored")
    single = tmp_path / "single.pdf"
    single.write_bytes(files.make_pdf(["A single PDF about beacons."]))
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        "\n".join(
            json.dumps(line)
            for line in [
                {"_id": "d1", "title": "wing flutter", "text": "flutter of a wing at high speed ."},
                {"_id": "d2", "title": "", "text": "boundary layer transition on a flat plate ."},
                {"_id": "d3", "title": "empty", "text": ""},
            ]
        )
        + "\n"
    )

    output = _ingest(str(tmp_path / "docs"), str(single), str(corpus), "--domain", domain.slug, "--user", user.username)

    assert "created: 5  duplicate: 1  rejected: 2" in output
    assert "photo.pdf: " in output and "image/png" in output
    assert "corpus.jsonl:3 (d3): The document is empty." in output
    titles = set(Document.objects.filter(domain=domain).values_list("title", flat=True))
    assert {"a", "b", "single", "wing flutter", "d2"} == titles
    flutter = Document.objects.get(title="wing flutter")
    assert flutter.created_by == user and flutter.source == "text"
    with flutter.current_version.original.open("rb") as handle:
        assert handle.read().decode() == "wing flutter\n\nflutter of a wing at high speed ."
    assert ProcessingRun.objects.filter(domain=domain).count() == 5


def test_ingest_refuses_unknown_domain_user_or_path(tmp_path, domain):
    with pytest.raises(CommandError, match="No domain"):
        _ingest(str(tmp_path), "--domain", "nope")
    with pytest.raises(CommandError, match="No user"):
        _ingest(str(tmp_path), "--domain", domain.slug, "--user", "ghost")
    with pytest.raises(CommandError, match="No such file"):
        _ingest(str(tmp_path / "missing"), "--domain", domain.slug)


def test_sample_corpus_is_ten_coherent_documents_of_three_types():
    paths = sample_files()
    assert len(paths) == 10
    assert {p.suffix for p in paths} == {".md", ".txt", ".html"}
    assert sample_title(next(p for p in paths if p.name == "cape-hatteras.html")) == "Cape Hatteras Lighthouse"
    assert sample_title(next(p for p in paths if p.name == "fresnel-lens.md")) == "The Fresnel lens"


def test_sample_corpus_ingests_once_and_analyses_cleanly(domain, user):
    assert ingest_sample_corpus(domain=domain, user=user) == {"created": 10, "existing": 0}
    assert ingest_sample_corpus(domain=domain, user=user) == {"created": 0, "existing": 10}
    for document in Document.objects.filter(domain=domain):
        metrics = analyze_version(version_id=document.current_version_id)
        assert metrics["chunks"] >= 1 and metrics["language"] == "en"
    assert Chunk.objects.filter(domain=domain, text__contains="Fresnel").count() >= 2
    assert Document.objects.filter(domain=domain, title="Trinity House").exists()


@pytest.fixture
def eager_tasks():
    """Run the workflow's Celery tasks in this process (the worker-process runs are the pipeline's own tests)."""
    from heysh.celery import app

    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, False
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved


@pytest.mark.django_db(transaction=True)
def test_ingest_wait_reports_finished_runs(tmp_path, eager_tasks):
    from tests.factories import DomainFactory, MembershipFactory, UserFactory

    owner = UserFactory()
    domain = DomainFactory()
    MembershipFactory(domain=domain, user=owner, role="owner")
    (tmp_path / "fog.txt").write_text("Foghorns warn ships when the lighthouse beam is hidden by fog.")
    (tmp_path / "scan.pdf").write_bytes(files.make_pdf([""]))

    output = _ingest(str(tmp_path), "--domain", domain.slug, "--wait", "--timeout", "60")

    assert "created: 2  duplicate: 0  rejected: 0" in output
    assert "ready: 1  failed: 1  unfinished: 0" in output
    # Per step, not only whole runs: the scan stopped at analysis, the text went through every step.
    assert "  Analysis: 1 of 2 done, 1 failed" in output
    assert "  Knowledge extraction: 1 of 2 done\n" in output and "  Vector indexing: 1 of 2 done\n" in output
    assert "failed “scan”: " in output and "no extractable text" in output
    assert Document.objects.get(title="fog").status == "ready"
