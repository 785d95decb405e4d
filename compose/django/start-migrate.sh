#!/bin/sh
# migrate: one-shot, before api/workers/beat start (they wait for it to complete).
set -eu
exec python manage.py migrate --noinput
