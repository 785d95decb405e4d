"""The domain bootstrap's own tasks besides its steps (those are generated in ``tasks.workflows``)."""

from __future__ import annotations

from apps.bootstrap.workflow import bootstrap_documents_finished, bootstrap_poll_documents
from heysh.celery import app


@app.task(name="tasks.bootstrap.document_finished", queue="general")
def document_finished(document_ids: int | list[int]) -> None:
    """Count finished documents (one id, or a batch's list) towards the bootstraps waiting for them."""
    ids = [document_ids] if isinstance(document_ids, int | str) else document_ids
    bootstrap_documents_finished(document_ids=[int(i) for i in ids])


@app.task(name="tasks.bootstrap.check_documents", queue="general")
def check_documents(bootstrap_id: int) -> None:
    """Poll a waiting knowledge-base step's documents; re-sends itself while the step still waits."""
    bootstrap_poll_documents(bootstrap_id=int(bootstrap_id))
