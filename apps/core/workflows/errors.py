"""How a step says what went wrong.

``PermanentError``: the input itself is bad (corrupt PDF, unsupported type, private URL...).
Retrying cannot help: the step fails at once with this message, which is shown to people,
so it must be clear and must not contain secrets. Any other exception is treated as
transient and retried with backoff until the step's attempts run out.
"""


class PermanentError(Exception):
    def __init__(self, message: str, *, code: str = "invalid_document"):
        super().__init__(message)
        self.code = code
        self.message = message
