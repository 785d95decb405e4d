#!/bin/sh
# Every application container starts here, whatever its command.
set -eu

# Multiprocess metrics: each container has its own directory; stale files from a
# previous run of this container would be counted again, so start empty.
if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
  mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
  find "$PROMETHEUS_MULTIPROC_DIR" -maxdepth 1 -name '*.db' -delete
fi

exec "$@"
