"""Errors of the document pipeline. ``PermanentError`` is the engine's (a bad input fails at once)."""

from apps.core.workflows.errors import PermanentError

__all__ = ["DuplicateContent", "PermanentError"]


class DuplicateContent(PermanentError):
    def __init__(self, message: str, *, existing_document_id: int):
        super().__init__(message, code="duplicate")
        self.existing_document_id = existing_document_id
