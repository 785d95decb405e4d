"""Message priorities on the real Redis broker: a worker takes extraction before indexing."""

from __future__ import annotations

import pytest

from apps.core.workflows import engine
from apps.documents.workflow import pipeline
from heysh.celery import app

pytestmark = pytest.mark.skipif(not str(app.conf.broker_url).startswith("redis"), reason="priorities are a Redis broker feature")


def _drain(channel, queue: str) -> list[str]:
    tasks = []
    while (message := channel.basic_get(queue=queue, no_ack=True)) is not None:
        tasks.append(message.headers["task"])
    return tasks


def test_a_worker_gets_extraction_before_indexing_queued_earlier():
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        for queue in app.conf.task_queues:
            queue(channel).declare()
        _drain(channel, "ai")
        _drain(channel, "general")
        try:
            engine.send(pipeline(), "index", [1, 2])
            engine.send(pipeline(), "index", 3)
            engine.send(pipeline(), "extract", [4, 5])
            engine.send(pipeline(), "notify", 6)
            engine.send(pipeline(), "analyze", 7)
            assert _drain(channel, "ai") == ["tasks.pipeline.extract", "tasks.pipeline.index", "tasks.pipeline.index"]
            assert _drain(channel, "general") == ["tasks.pipeline.analyze", "tasks.pipeline.notify"]
        finally:
            _drain(channel, "ai")
            _drain(channel, "general")
