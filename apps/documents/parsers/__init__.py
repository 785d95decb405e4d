"""Document parsers: type sniffing, the parsers themselves, and the sandbox that runs them.

``parse(data, mime, timeout=..., memory_mb=...)`` is the entry point. Plain text and
Markdown are parsed in this process; HTML, PDF and DOCX in a subprocess with CPU, memory
and wall-clock limits, so a hostile file can hang or exhaust only that subprocess
(Celery's prefork children are daemonic and cannot start multiprocessing children, hence
``subprocess``). The caller passes the limits (the pipeline reads them from settings).

Nothing here imports Django at module level: the sandbox subprocess imports this package.
"""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
from pathlib import Path

from apps.documents.errors import PermanentError
from apps.documents.parsers.dispatch import run
from apps.documents.parsers.sniff import sniff
from apps.documents.parsers.types import SANDBOXED_MIMES, SUPPORTED_MIMES, ParsedDocument

__all__ = ["ParsedDocument", "SUPPORTED_MIMES", "parse", "run_sandboxed", "sniff"]

PROJECT_ROOT = Path(__file__).resolve().parents[3]


def _limits(memory_mb: int, cpu_seconds: int):
    def apply() -> None:
        memory = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def run_sandboxed(data: bytes, mime: str, *, timeout: int, memory_mb: int) -> ParsedDocument:
    """Parse in a limited subprocess. PermanentError for bad input; RuntimeError when the parser crashed."""
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "apps.documents.parsers.sandbox", mime],
            input=data,
            capture_output=True,
            timeout=timeout,
            cwd=PROJECT_ROOT,
            preexec_fn=_limits(memory_mb, timeout),
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise PermanentError(f"Parsing took longer than the {timeout} s limit; the file is too large or too complex.", code="too_complex")
    if completed.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        raise PermanentError(f"Parsing used more than the {timeout} s CPU limit; the file is too large or too complex.", code="too_complex")
    try:
        outcome = json.loads(completed.stdout)
    except ValueError:
        tail = completed.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        if "MemoryError" in tail[0]:
            raise PermanentError("The document needs more memory to parse than is allowed.", code="too_complex")
        # A crash (segfault, abort) may be this machine's trouble: transient, retried, then failed.
        raise RuntimeError(f"The parser process exited with code {completed.returncode}: {tail[0][:300]}")
    if not outcome.get("ok"):
        raise PermanentError(outcome.get("error") or "The document could not be parsed.", code=outcome.get("code") or "invalid_document")
    return ParsedDocument.from_dict(outcome["result"])


def parse(data: bytes, mime: str, *, timeout: int, memory_mb: int) -> ParsedDocument:
    """Parse sniffed bytes: in-process for text and Markdown, sandboxed (with these limits) for the rest."""
    if mime not in SUPPORTED_MIMES:
        raise PermanentError(f"Unsupported type {mime}.", code="unsupported_type")
    if mime in SANDBOXED_MIMES:
        return run_sandboxed(data, mime, timeout=timeout, memory_mb=memory_mb)
    outcome = run(mime, data)
    if not outcome["ok"]:
        raise PermanentError(outcome["error"], code=outcome["code"])
    return ParsedDocument.from_dict(outcome["result"])
