"""How a pipeline step says what went wrong.

``PermanentError``: the input itself is bad (corrupt PDF, unsupported type, private
URL...). Retrying cannot help: the document fails at once with this message, which
is shown to the user, so it must be clear and must not contain secrets.
Any other exception is treated as transient and retried with backoff until the
step's attempts run out.
"""


class PermanentError(Exception):
    def __init__(self, message: str, *, code: str = "invalid_document"):
        super().__init__(message)
        self.code = code
        self.message = message


class DuplicateContent(PermanentError):
    def __init__(self, message: str, *, existing_document_id: int):
        super().__init__(message, code="duplicate")
        self.existing_document_id = existing_document_id
