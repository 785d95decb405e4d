import pytest

from apps.search.backends.vectors import embedded
from apps.search.services import keyword


@pytest.fixture(autouse=True)
def _fresh_search_caches():
    """Per-process caches are keyed by domain id, and test databases reuse ids: start each test empty."""
    keyword._indexes.clear()
    embedded._matrices.clear()
    yield
    keyword._indexes.clear()
    embedded._matrices.clear()
