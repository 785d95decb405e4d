"""The durable-step engine shared by every workflow (DESIGN §6).

``models.DurableStep`` is the abstract step row, ``spec`` declares a workflow (its ordered
steps, their queues and bodies, its hooks), ``engine`` claims, runs, advances, retries and
sweeps steps of any registered workflow.
"""
