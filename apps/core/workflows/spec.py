"""How a workflow is declared: its ordered steps (queue, batch size, body) and its hooks.

A step body is one object with one call, ``run(contexts) -> {step id: result}``: a result is
a dict of metrics/output, an ``Outcome``, or the exception that failed that step. A body that
raises as a whole is retried by the engine one context at a time, so one bad item fails alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import Q

if TYPE_CHECKING:
    from apps.core.workflows.models import DurableStep


@dataclass
class StepContext:
    """What a step body gets: its row and a heartbeat to call during long work. Workflows
    subclass it to carry the rows their bodies need (already loaded)."""

    row: DurableStep
    heartbeat: Callable[..., None]

    @property
    def pk(self) -> int:
        return self.row.pk


@dataclass
class Outcome:
    """A step result beyond plain metrics: it may wait (lease released until something outside
    finishes it) or stop the workflow until a person acts (``advance=False``)."""

    output: dict = field(default_factory=dict)
    wait: bool = False
    advance: bool = True


StepRun = Callable[[list[StepContext]], dict[int, Any]]
# Which further queued steps may join a batch: (filter on the step rows, how many), or None.
Joinable = Callable[[list[StepContext], int], "tuple[Q, int] | None"]


@dataclass(frozen=True)
class StepSpec:
    name: str
    queue: str
    run: StepRun
    batch_setting: str | None = None  # the setting holding how many steps one delivery may run
    priority: int | None = None  # broker priority (Redis: 0 highest); None: the queue's default
    joinable: Joinable | None = None

    @property
    def batch_size(self) -> int:
        return max(int(getattr(settings, self.batch_setting)), 1) if self.batch_setting else 1


def one_at_a_time(body: Callable[[StepContext], Any]) -> StepRun:
    """A ``run`` for steps that handle one context per call."""

    def run(contexts: list[StepContext]) -> dict[int, Any]:
        return {ctx.pk: body(ctx) for ctx in contexts}

    run.__name__ = run.__qualname__ = getattr(body, "__name__", "run")
    return run


class Workflow:
    """One workflow: its step model, its ordered steps and what happens around them.

    The hooks run inside the engine's transactions, so what they write commits (or not)
    together with the step's own state.
    """

    name: str  # task names are ``tasks.<name>.<step>``
    model: type[DurableStep]
    parent: str  # the step model's foreign key to the workflow instance ("run", "bootstrap")
    domain_path: str  # lookup from a step row to its domain id, for scoping and logging
    result_field: str  # where a step's result dict is stored
    metric_prefix: str = ""  # step label prefix in the step metrics
    sweep_task: str  # the beat task that sweeps this workflow
    steps: Sequence[StepSpec] = ()

    def __init__(self, steps: Sequence[StepSpec]):
        self.steps = tuple(steps)
        self._by_name = {s.name: s for s in self.steps}

    # --- the shape ---------------------------------------------------------------------
    def step(self, name: str) -> StepSpec:
        return self._by_name[name]

    def task_name(self, step: str) -> str:
        return f"tasks.{self.name}.{step}"

    def next_step(self, step: str) -> str | None:
        names = [s.name for s in self.steps]
        index = names.index(step)
        return names[index + 1] if index + 1 < len(names) else None

    def metric_label(self, step: str) -> str:
        return f"{self.metric_prefix}{step}"

    # --- hooks (override what the workflow needs) ----------------------------------------
    def load(self, ids: list[int]) -> dict[int, DurableStep]:
        return {row.pk: row for row in self.model.objects.filter(pk__in=ids)}

    def context(self, row: DurableStep, heartbeat: Callable[..., None]) -> StepContext:
        return StepContext(row=row, heartbeat=heartbeat)

    def log_context(self, row: DurableStep) -> dict:
        return {"step": self.metric_label(row.step)}

    def trace_parent(self, row: DurableStep) -> str:
        """The traceparent the instance was started under (its ``trace_parent`` column), so
        every step of it lands in that one trace; "" when it has none."""
        return getattr(getattr(row, self.parent), "trace_parent", "") or ""

    def claimed(self, rows: list[DurableStep]) -> None:
        """Steps were claimed and are about to run."""

    def succeeded(self, rows: list[DurableStep]) -> None:
        """Steps were marked succeeded (same transaction); the next steps are queued after this."""

    def advances(self, row: DurableStep, outcome: Outcome) -> bool:
        return outcome.advance and self.next_step(row.step) is not None

    def waiting(self, rows: list[DurableStep]) -> None:
        """Steps released their lease to wait on something outside (after commit)."""

    def failed(self, row: DurableStep, message: str) -> None:
        """A step failed for good (dead letter), in the transaction that records it."""

    def instance_fail(self, row: DurableStep, message: str) -> None:
        """Mark the step's workflow instance failed and nothing else: the engine's fallback
        when ``failed`` itself raises, so the instance never stays "running" behind a failed step."""

    def swept(self, now) -> dict[str, int]:
        """Workflow-specific recovery run by the sweep; returns counts to report."""
        return {}
