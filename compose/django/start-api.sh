#!/bin/sh
# api: gunicorn (multi-process metrics via compose/django/gunicorn.conf.py).
set -eu
exec gunicorn heysh.wsgi:application --config /app/compose/django/gunicorn.conf.py
