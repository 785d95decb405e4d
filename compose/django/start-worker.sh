#!/bin/sh
# worker-<queue>: one Celery worker per queue. Usage: start-worker.sh <queue>
# Concurrency from HEYSH_WORKER_CONCURRENCY; metrics on HEYSH_METRICS_PORT (default 9100).
set -eu
queue="${1:?usage: start-worker.sh <ai|storage|general>}"
export HEYSH_METRICS_PORT="${HEYSH_METRICS_PORT:-9100}"
exec celery -A heysh worker \
  --queues "$queue" \
  --hostname "${queue}@%h" \
  --concurrency "${HEYSH_WORKER_CONCURRENCY:-2}" \
  --loglevel "${HEYSH_LOG_LEVEL:-INFO}" \
  --without-gossip --without-mingle
