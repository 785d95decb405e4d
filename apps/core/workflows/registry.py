"""The registered workflows. Apps register theirs from ``AppConfig.ready``, so every process
that has loaded Django (web, worker, beat) knows every workflow before it sends or runs a step."""

from __future__ import annotations

from apps.core.workflows.spec import Workflow

_workflows: dict[str, Workflow] = {}


def workflow_register(workflow: Workflow) -> Workflow:
    _workflows[workflow.name] = workflow
    return workflow


def workflow_get(name: str) -> Workflow:
    try:
        return _workflows[name]
    except KeyError:
        raise LookupError(f"No workflow named {name!r} is registered (is its app installed?)") from None


def workflows() -> list[Workflow]:
    return list(_workflows.values())


def queue_of_steps() -> dict[str, dict[str, str]]:
    """{workflow: {step: queue}}: the one table of which queue runs which step."""
    return {w.name: {s.name: s.queue for s in w.steps} for w in _workflows.values()}
