"""The domain bootstrap's Celery tasks: one per step, each takes a BootstrapStep id.

Thin on purpose: ``apps.domains.bootstrap.engine`` claims the step, runs its body and
advances the workflow. Each step is sent to its queue (research and activation to
``general``, ingestion to ``storage``, generation to ``ai``); limits follow the queue.
"""

from __future__ import annotations

from heysh.celery import TIME_LIMITS, app

QUEUE_OF_STEP = {"research": "general", "ingest": "storage", "generate": "ai", "activate": "general"}


def _limits(step: str) -> dict[str, int]:
    soft, hard = TIME_LIMITS[QUEUE_OF_STEP[step]]
    return {"soft_time_limit": soft, "time_limit": hard}


def _run(step_id: int) -> str:
    from apps.domains.bootstrap.engine import run
    from apps.domains.bootstrap.steps import HANDLERS

    return run(int(step_id), HANDLERS)


@app.task(name="tasks.bootstrap.research", **_limits("research"))
def research(step_id: int) -> str:
    return _run(step_id)


@app.task(name="tasks.bootstrap.ingest", **_limits("ingest"))
def ingest(step_id: int) -> str:
    return _run(step_id)


@app.task(name="tasks.bootstrap.generate", **_limits("generate"))
def generate(step_id: int) -> str:
    return _run(step_id)


@app.task(name="tasks.bootstrap.activate", **_limits("activate"))
def activate(step_id: int) -> str:
    return _run(step_id)


@app.task(name="tasks.bootstrap.document_finished")
def document_finished(document_ids: int | list[int]) -> None:
    """Count finished documents (one id, or a batch's list) towards the bootstraps waiting for them."""
    from apps.domains.bootstrap.services import bootstrap_documents_finished

    ids = [document_ids] if isinstance(document_ids, int | str) else document_ids
    bootstrap_documents_finished(document_ids=[int(i) for i in ids])


@app.task(name="tasks.bootstrap.check_documents")
def check_documents(bootstrap_id: int) -> None:
    """Poll a waiting knowledge-base step's documents; re-sends itself while the step still waits."""
    from apps.domains.bootstrap.services import bootstrap_poll_documents

    bootstrap_poll_documents(bootstrap_id=int(bootstrap_id))


@app.task(name="tasks.bootstrap.sweep")
def sweep() -> dict:
    from apps.domains.bootstrap.engine import sweep as bootstrap_sweep

    return bootstrap_sweep()


TASKS = {"research": research, "ingest": ingest, "generate": generate, "activate": activate}
