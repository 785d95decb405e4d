"""What the document pipeline tells the rest of the platform; it names none of its listeners.

``documents_ready``: versions became their documents' current versions (searchable). Sent
inside the transaction that switches them, so a listener's writes (search caches keyed on
the domain's index version) commit together with the switch. Keyword ``runs``.

``documents_finished``: documents' runs ended, ready or failed. Sent after that commit.
Keyword ``document_ids``. The domain bootstrap counts these towards its knowledge base.

``document_deleting``: a document is about to be deleted, inside the deleting transaction.
Keywords ``domain_id`` and ``version_ids``. A receiver may return a callable, which is
called in the same transaction once the document's rows are gone (the graph prunes what
only that document supported).
"""

from django.dispatch import Signal

documents_ready = Signal()
documents_finished = Signal()
document_deleting = Signal()
