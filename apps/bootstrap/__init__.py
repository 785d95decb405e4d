"""Domain bootstrap: research → knowledge base → generated content → review → activation.

``services`` is the public surface (start, approve, request changes, retry, the
document-finished hook); ``engine`` runs the durable steps; ``research`` and
``generation`` are the steps' bodies. See docs/bootstrap.md.
"""
