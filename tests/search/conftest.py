import pytest

from apps.search.backends.vectors import embedded


@pytest.fixture(autouse=True)
def _fresh_search_caches(search_index_dir):
    """Per-process caches are keyed by domain id, and test databases reuse ids: start each test empty."""
    embedded._matrices.clear()
    yield
    embedded._matrices.clear()
