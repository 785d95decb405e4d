#!/usr/bin/env bash
# `make run`: the whole platform on one machine, embedded default, no external service.
# Starts web (127.0.0.1:8000), one Celery worker on all three queues, and beat.
# Ctrl-C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
export HF_HUB_OFFLINE=1 HEYSH_DEBUG="${HEYSH_DEBUG:-1}"

$PY manage.py migrate --noinput
$PY manage.py bootstrap_demo

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo; echo "stopping web, worker and beat..."
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

$PY -m celery -A heysh worker -Q ai,storage,general --concurrency "${HEYSH_WORKER_CONCURRENCY:-2}" --loglevel INFO &
pids+=($!)
$PY -m celery -A heysh beat --loglevel INFO &
pids+=($!)
$PY manage.py runserver 127.0.0.1:8000 &
pids+=($!)
wait -n "${pids[@]}"
