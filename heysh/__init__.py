import os

# OpenBLAS worker threads spin after each matrix product and starve torch's threads, which
# embed the next query: on 2 cores that doubled search latency (bench/search: p95 127 → 56 ms
# at 100k chunks). One BLAS thread per process; torch keeps its own thread pool. Set before
# numpy is first imported, which happens after this package is.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from heysh.celery import app as celery_app

__all__ = ["celery_app"]
