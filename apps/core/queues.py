"""The three Celery queues of the platform and their time limits (DESIGN §6)."""

QUEUES = ("ai", "storage", "general")

# Hard limits per queue; soft limits raise inside the task first so it can record why.
TIME_LIMITS = {"ai": (540, 600), "storage": (240, 300), "general": (240, 300)}
LONGEST_HARD_LIMIT = max(hard for _, hard in TIME_LIMITS.values())
