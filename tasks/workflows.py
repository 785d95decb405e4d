"""The Celery tasks of every registered workflow, generated from its spec: one task per step
(``tasks.<workflow>.<step>``, taking a step id or a list of ids of that step) and one sweep.

Thin on purpose: ``apps.core.workflows.engine`` claims the steps, runs their body and
advances the workflow. Time limits follow the step's queue; the queue and priority of each
message are set when it is sent (``engine.send``), from the same spec.
"""

from __future__ import annotations

from apps.core.workflows import engine
from apps.core.workflows.registry import workflows
from apps.core.workflows.spec import StepSpec, Workflow
from heysh.celery import TIME_LIMITS, app


def _step_task(workflow: Workflow, spec: StepSpec):
    soft, hard = TIME_LIMITS[spec.queue]

    def run(ids: int | list[int]) -> str | None:
        return engine.step_execute(workflow, spec.name, ids)

    run.__name__ = run.__qualname__ = f"{workflow.name}_{spec.name}"
    return app.task(name=workflow.task_name(spec.name), queue=spec.queue, soft_time_limit=soft, time_limit=hard)(run)


def _sweep_task(workflow: Workflow):
    soft, hard = TIME_LIMITS["general"]

    def sweep() -> dict[str, int]:
        return engine.workflow_sweep(workflow)

    sweep.__name__ = sweep.__qualname__ = f"{workflow.name}_sweep"
    return app.task(name=workflow.sweep_task, queue="general", soft_time_limit=soft, time_limit=hard)(sweep)


STEP_TASKS = {(w.name, s.name): _step_task(w, s) for w in workflows() for s in w.steps}
SWEEP_TASKS = {w.name: _sweep_task(w) for w in workflows()}
