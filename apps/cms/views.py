"""The site root and the favicon: the admin is the CMS, so both lead there."""

from __future__ import annotations

from django.http import HttpResponseRedirect
from django.templatetags.static import static
from django.urls import reverse


def site_root(request):
    return HttpResponseRedirect(reverse("admin:index"))


def favicon(request):
    # Resolved per request: with hashed static names (production) the file name is known only after collectstatic.
    return HttpResponseRedirect(static("cms/favicon.svg"))
