"""How the domain bootstrap follows the documents' events (``apps.documents.signals``)."""

from __future__ import annotations

from apps.core.workflows import engine


def count_finished_documents(sender, *, document_ids, **kwargs) -> None:
    """Documents' runs ended: one message asks the general worker to count them towards the
    bootstraps waiting for them (off the finishing worker, which may be the busy AI worker)."""
    engine.task_send("tasks.bootstrap.document_finished", [document_ids], queue="general")
