#!/usr/bin/env bash
# `make run`: the whole platform on one machine, embedded default, no external service.
# Starts web (127.0.0.1:8000), one Celery worker on all three queues, and beat. Each process
# writes to var/log/<name>.log (the previous run's log is kept as <name>.log.1); the console
# gets one line per process and, last, the admin login and URLs in a short box.
# Ctrl-C stops everything this script started.
set -euo pipefail

PY=.venv/bin/python
LOG_DIR=var/log
WEB_ADDR="${HEYSH_RUN_ADDR:-127.0.0.1:8000}"
BASE_URL="http://$WEB_ADDR"
pids=() names=() logs=()  # global: the EXIT trap runs after main has returned

# One console line per process: name, where it answers, its log.
summary() {
  printf '%-7s %-34s log %s\n' "$1" "$2" "$3"
}

# A fresh log for this run; the previous one stays as .1.
log_file() {
  local log="$LOG_DIR/$1.log"
  mkdir -p "$LOG_DIR"
  if [[ -s "$log" ]]; then mv -f "$log" "$log.1"; fi
  : >"$log"
  echo "$log"
}

# Wait (up to $2 seconds) until something listens on host:port $1.
wait_for_port() {
  local host=${1%:*} port=${1##*:} deadline=$((SECONDS + $2))
  while ((SECONDS < deadline)); do
    if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then return 0; fi
    sleep 0.5
  done
  return 1
}

# Wait (up to $3 seconds) until the log $1 contains the text $2.
wait_for_log() {
  local deadline=$((SECONDS + $3))
  while ((SECONDS < deadline)); do
    if grep -q -- "$2" "$1" 2>/dev/null; then return 0; fi
    sleep 0.5
  done
  return 1
}

# Run a setup command with its output in a log; on failure show the log's end and stop.
setup_step() {
  local name=$1 log
  shift
  log=$(log_file "$name")
  if ! "$@" >"$log" 2>&1; then
    echo "$name failed; the end of $log:" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
  summary "$name" "done" "$log"
}

# The console once everything started: one line per process (logs from `start`), then the box, last.
announce() {
  summary worker "$2" "${logs[0]}"
  summary beat "schedules from the database" "${logs[1]}"
  summary web "$1" "${logs[2]}"
  echo "up in ${SECONDS} s"
  echo
  echo "$3"
}

main() {
  cd "$(dirname "$0")/../.."
  export HF_HUB_OFFLINE=1 HEYSH_DEBUG="${HEYSH_DEBUG:-1}"
  cleanup() {
    trap - INT TERM EXIT
    if ((${#pids[@]})); then
      echo; echo "stopping web, worker and beat..."
      kill "${pids[@]}" 2>/dev/null || true
    fi
    wait 2>/dev/null || true
  }
  # A signal interrupts `wait -n` below: stop everything and exit, do not report the stopped processes.
  trap 'cleanup; exit 130' INT TERM
  trap cleanup EXIT

  setup_step migrate "$PY" manage.py migrate --noinput
  setup_step setup "$PY" manage.py bootstrap_demo --base-url "$BASE_URL"
  local box
  box=$("$PY" manage.py demo_login --base-url "$BASE_URL")

  start() {  # start NAME COMMAND...: in the background, output to var/log/NAME.log
    local name=$1 log
    shift
    log=$(log_file "$name")
    "$@" >>"$log" 2>&1 &
    pids+=($!) names+=("$name") logs+=("$log")
  }
  # The worker at a lower CPU priority than web: on a small machine ingestion would otherwise
  # take the cores searches need (bench/search --during-ingest, two runs: search p95 1.44x and
  # 1.57x idle at the same priority, 1.01x and 0.87x at nice 10; ingestion 7-15% slower). web
  # and worker share this session, so the nice ranks them against each other.
  start worker nice -n "${HEYSH_WORKER_NICE:-10}" "$PY" -m celery -A heysh worker -Q ai,storage,general \
    --concurrency "${HEYSH_WORKER_CONCURRENCY:-2}" --loglevel INFO
  start beat "$PY" -m celery -A heysh beat --loglevel INFO
  start web "$PY" manage.py runserver "$WEB_ADDR"

  local web_state="$BASE_URL" worker_state="queues ai,storage,general"
  wait_for_port "$WEB_ADDR" 120 || web_state="not answering yet on $WEB_ADDR"
  wait_for_log "${logs[0]}" " ready." 60 || worker_state="still starting"
  announce "$web_state" "$worker_state" "$box"

  local status=0
  wait -n "${pids[@]}" || status=$?
  local i
  for i in "${!pids[@]}"; do
    if ! kill -0 "${pids[$i]}" 2>/dev/null; then
      echo "${names[$i]} stopped (exit $status); the end of ${logs[$i]}:" >&2
      tail -n 20 "${logs[$i]}" >&2
    fi
  done
  return "$status"
}

# Sourced (tests call the helpers above), nothing runs.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
