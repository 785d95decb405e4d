#!/bin/sh
# beat: exactly one per installation (the schedule lives in the database).
set -eu
export HEYSH_METRICS_PORT="${HEYSH_METRICS_PORT:-9100}"
exec celery -A heysh beat --loglevel "${HEYSH_LOG_LEVEL:-INFO}" --pidfile=
