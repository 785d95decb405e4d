"""The hostile corpus: every malformed file gets a clear 4xx at intake or a clear PermanentError
in analysis (never a crash), and the parser sandbox keeps working afterwards."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from django.core.files.base import ContentFile
from django.test import override_settings

from apps.documents.analysis import analyze_version
from apps.documents.errors import PermanentError
from apps.documents.models import Chunk, Document, DocumentVersion
from apps.documents.parsers import _limits, run_sandboxed
from apps.documents.parsers.types import DOCX, HTML, PDF
from tests.documents import files
from tests.documents.hostile import CORPUS, Hostile

pytestmark = pytest.mark.django_db

IDS = [case.name for case in CORPUS]


def test_corpus_is_big_enough():
    assert len(CORPUS) >= 15


@pytest.mark.parametrize("case", CORPUS, ids=IDS)
def test_intake_answers_a_clear_4xx_or_accepts(case: Hostile, owner_client, domain, upload):
    response = owner_client.post(
        "/api/v1/documents", {"domain": domain.slug, "file": upload(case.filename, case.make())}, format="multipart"
    )
    if case.intake is None:
        assert response.status_code == 202, response.content
        return
    status, message = case.intake
    assert response.status_code == status, response.content
    assert message in response.json()["error"]["message"]
    assert not Document.objects.filter(domain=domain).exists()


def _stored_version(domain, user, case: Hostile) -> DocumentVersion:
    """The file as the worker would find it, bypassing intake (defence in depth: analysis checks again)."""
    document = Document.objects.create(domain=domain, title=case.name, source="upload", created_by=user)
    version = DocumentVersion(document=document, domain=domain, number=1, filename=case.filename)
    version.original.save(case.filename, ContentFile(case.make()), save=False)
    version.save()
    return version


@pytest.mark.parametrize("case", [c for c in CORPUS if c.analysis is not None], ids=[c.name for c in CORPUS if c.analysis is not None])
def test_analysis_raises_a_clear_permanent_error_or_succeeds(case: Hostile, domain, user):
    version = _stored_version(domain, user, case)
    if case.analysis == "ok":
        metrics = analyze_version(version_id=version.pk)
        version.refresh_from_db()
        assert metrics["chunks"] >= 1
        assert all(version.text[c.start : c.end] == c.text for c in Chunk.objects.filter(version=version))
        return
    with pytest.raises(PermanentError) as error:
        analyze_version(version_id=version.pk)
    assert case.analysis in error.value.message
    assert not Chunk.objects.filter(version=version).exists()


def test_html_scripts_are_stripped_and_text_kept(domain, user):
    case = next(c for c in CORPUS if c.name == "html with scripts")
    version = _stored_version(domain, user, case)
    analyze_version(version_id=version.pk)
    version.refresh_from_db()
    assert version.text == "Keepers logged every passing ship.\n\nThe log books survive today."


@override_settings(MAX_UPLOAD_MB=1)
def test_oversized_upload_is_413(owner_client, domain, upload):
    response = owner_client.post(
        "/api/v1/documents", {"domain": domain.slug, "file": upload("huge.txt", b"lighthouse " * 200_000)}, format="multipart"
    )
    assert response.status_code == 413
    assert response.json()["error"] == {
        "code": "too_large", "message": "The document is larger than the 1 MB limit.", "request_id": response.json()["error"]["request_id"],
    }


@override_settings(CHUNK_CHARS=1000)
def test_huge_single_line_of_words_is_chunked_within_bounds(domain, user):
    case = Hostile("huge line of words", "words.txt", lambda: b"beacon " * 300_000, None, "ok")
    version = _stored_version(domain, user, case)
    metrics = analyze_version(version_id=version.pk)
    lengths = list(Chunk.objects.filter(version=version).values_list("end", "start"))
    assert metrics["chunks"] > 1500
    assert max(end - start for end, start in lengths) <= 1000


def test_sandbox_survives_the_corpus_and_still_parses():
    mimes = {".pdf": PDF, ".docx": DOCX, ".html": HTML}
    for case in CORPUS:
        mime = mimes.get(case.filename[case.filename.rfind(".") :])
        if mime:
            try:
                run_sandboxed(case.make(), mime, timeout=30, memory_mb=1024)
            except PermanentError:
                pass
    parsed = run_sandboxed(files.make_pdf(["Still standing."]), PDF, timeout=30, memory_mb=1024)
    assert parsed.pages[0].strip() == "Still standing."


def test_sandbox_time_limit_is_a_permanent_error():
    """Whichever trips first on a busy machine, the wall clock or the CPU limit, the error says why."""
    deep = b"<html><body>" + b"<div>" * 200_000 + b"x" + b"</div>" * 200_000 + b"</body></html>"
    with pytest.raises(PermanentError) as error:
        run_sandboxed(deep, HTML, timeout=1, memory_mb=1024)
    assert error.value.code == "too_complex"
    assert re.search(r"the 1 s (CPU )?limit; the file is too large or too complex\.$", error.value.message)


def test_sandbox_limits_stop_runaway_memory_and_cpu():
    memory = subprocess.run(
        [sys.executable, "-c", "x = bytearray(900 * 1024 * 1024)"], preexec_fn=_limits(256, 10), capture_output=True, check=False
    )
    assert memory.returncode != 0 and b"MemoryError" in memory.stderr
    cpu = subprocess.run([sys.executable, "-c", "while True: pass"], preexec_fn=_limits(256, 1), capture_output=True, timeout=30, check=False)
    assert cpu.returncode < 0  # killed by SIGXCPU / SIGKILL at the CPU limit
