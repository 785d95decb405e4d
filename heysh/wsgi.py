import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heysh.settings")
application = get_wsgi_application()

# Load and run the embedding model now, in a background thread, so the first search does not
# pay for it; /ready answers 503 until it is warm. After get_wsgi_application: settings are loaded.
from apps.core.backends import embedders  # noqa: E402
from apps.search.warm import search_indexes_open_in_background  # noqa: E402

embedders["default"].warm_in_background()
# Every worker opens the search indexes now; /ready opens them only in the worker it reaches.
search_indexes_open_in_background()
