import pytest

from apps.search.engines import vectors


@pytest.fixture(autouse=True)
def _fresh_search_caches(search_index_dir):
    """Per-process readers are keyed by domain id, and test databases reuse ids: start each test empty."""
    vectors._readers.clear()
    yield
    vectors._readers.clear()
