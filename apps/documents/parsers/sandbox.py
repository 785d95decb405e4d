"""Run one parser in this process and print its result as JSON: the subprocess side of ``run_sandboxed``.

    python -m apps.documents.parsers.sandbox application/pdf < file.pdf

The parent sets the time and memory limits (RLIMIT_CPU, RLIMIT_AS) before exec and a
wall-clock timeout around it. This module imports no Django: it starts fast and a
hostile file can take nothing down with it but this process.
"""

from __future__ import annotations

import json
import sys

from apps.documents.parsers.dispatch import run


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: python -m apps.documents.parsers.sandbox MIME < document\n")
        return 2
    sys.setrecursionlimit(5000)
    outcome = run(argv[1], sys.stdin.buffer.read())
    sys.stdout.write(json.dumps(outcome))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
