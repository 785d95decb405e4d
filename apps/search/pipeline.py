"""The document pipeline's steps, in order: what runs where, how many at a time, and which body.

Analysis and notification are the documents app's; extraction, graph update and indexing
are the knowledge side's. Extraction and embedding are AI work, graph writes go to the
storage queue, analysis and notification to the general queue.
"""

from __future__ import annotations

from apps.core.workflows.registry import workflow_register
from apps.core.workflows.spec import StepSpec
from apps.documents.analysis import analysis_joinable, analyze_step
from apps.documents.notifications import notify_step
from apps.documents.workflow import DocumentPipeline, Step
from apps.search.extraction import extract_step
from apps.search.graph_update import graph_step
from apps.search.indexing import index_joinable, index_step

# Message priority of the downstream steps (indexing, notification). On Redis 0 is the highest
# and the default; kombu keeps one list per priority step (0, 3, 6, 9) and a worker takes from
# the highest non-empty one. So a worker serves the cheap upstream steps of new documents first:
# during a bulk load the upstream burst is over quickly and indexing then runs full batches
# instead of competing with it. The embedded SQLAlchemy broker ignores priorities (plain FIFO).
DOWNSTREAM_PRIORITY = 6

# Every step is batched: embedding many short documents at once is several times faster, and
# per short document the fixed cost of the cheap steps (claim, rows, commit) exceeds their work.
DOCUMENT_PIPELINE = workflow_register(DocumentPipeline(steps=[
    StepSpec(Step.ANALYZE, "general", analyze_step, "STEP_BATCH_DOCUMENTS", joinable=analysis_joinable),
    StepSpec(Step.EXTRACT, "ai", extract_step, "STEP_BATCH_DOCUMENTS"),
    StepSpec(Step.GRAPH, "storage", graph_step, "STEP_BATCH_DOCUMENTS"),
    StepSpec(Step.INDEX, "ai", index_step, "INDEX_BATCH_DOCUMENTS", priority=DOWNSTREAM_PRIORITY, joinable=index_joinable),
    StepSpec(Step.NOTIFY, "general", notify_step, "STEP_BATCH_DOCUMENTS", priority=DOWNSTREAM_PRIORITY),
]))
