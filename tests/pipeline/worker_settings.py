"""Settings of worker processes in reliability tests: heysh's, with the scripted extractor."""

from heysh.settings import *  # noqa: F403
from heysh.settings import EXTRACTORS

EXTRACTORS["default"] = {"BACKEND": "tests.pipeline.doubles.ScriptedExtractor", "OPTIONS": {}}
