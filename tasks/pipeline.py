"""The document pipeline's Celery tasks: one per step, each takes a StepRun id or a list of
StepRun ids of that step (one message for a batch).

They are thin on purpose: the engine in ``apps.documents.workflow`` claims the step,
runs its body and advances the run. Time limits come from the step's queue.
"""

from __future__ import annotations

from heysh.celery import TIME_LIMITS, app

QUEUE_OF_STEP = {"analyze": "general", "extract": "ai", "graph": "storage", "index": "ai", "notify": "general"}


def _limits(step: str) -> dict[str, int]:
    soft, hard = TIME_LIMITS[QUEUE_OF_STEP[step]]
    return {"soft_time_limit": soft, "time_limit": hard}


def _execute(step_run_ids: int | list[int], step: str) -> str | None:
    from apps.documents.workflow import step_execute

    return step_execute(step_run_id=step_run_ids, step=step)


@app.task(name="tasks.pipeline.analyze", **_limits("analyze"))
def analyze(step_run_ids: int | list[int]) -> str | None:
    return _execute(step_run_ids, "analyze")


@app.task(name="tasks.pipeline.extract", **_limits("extract"))
def extract(step_run_ids: int | list[int]) -> str | None:
    return _execute(step_run_ids, "extract")


@app.task(name="tasks.pipeline.graph", **_limits("graph"))
def graph(step_run_ids: int | list[int]) -> str | None:
    return _execute(step_run_ids, "graph")


@app.task(name="tasks.pipeline.index", **_limits("index"))
def index(step_run_ids: int | list[int]) -> str | None:
    return _execute(step_run_ids, "index")


@app.task(name="tasks.pipeline.notify", **_limits("notify"))
def notify(step_run_ids: int | list[int]) -> str | None:
    return _execute(step_run_ids, "notify")
