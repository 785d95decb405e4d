"""Test doubles for pipeline tests, loaded by worker processes through ``worker_settings``.

``ScriptedExtractor`` is the real RuleExtractor unless a chunk carries a marker:
``@@reject@@`` raises PermanentError (bad input), ``@@timeout@@`` hits the soft time limit, ``@@crash@@`` raises every time (a poison document that crashes transiently on every
attempt), ``@@slow@@`` takes ``SLOW_SECONDS`` per chunk (a step long enough to kill a
worker in the middle of it).
"""

from __future__ import annotations

import time

from celery.exceptions import SoftTimeLimitExceeded

from apps.documents.errors import PermanentError
from apps.search.backends.extractors.rules import RuleExtractor

SLOW_SECONDS = 0.2


class ScriptedCrash(RuntimeError):
    pass


class ScriptedExtractor(RuleExtractor):
    batch_size = 16  # slow like a remote model: cached 16 texts at a time, so a kill mid-step loses little

    def extract(self, texts):
        for text in texts:
            if "@@reject@@" in text:
                raise PermanentError("The document was rejected by the extractor.")
            if "@@timeout@@" in text:
                raise SoftTimeLimitExceeded()
            if "@@crash@@" in text:
                raise ScriptedCrash("scripted extractor crash")
            if "@@slow@@" in text:
                time.sleep(SLOW_SECONDS)
        return super().extract(texts)
