"""Per-object history in the admin (django-simple-history, unfold's templates): who, when, what.

Mixed into ``DomainScopedAdmin`` so every domain object with ``HistoricalRecords`` shows
its changes with their diffs; models without history keep Django's own log. History is
read-only here: a revert would bypass the services, so it is disabled.
"""

from __future__ import annotations

from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect
from simple_history.admin import SimpleHistoryAdmin


class HistoryAdminMixin(SimpleHistoryAdmin):
    @property
    def _tracked(self) -> bool:
        return hasattr(self.model._meta, "simple_history_manager_attribute")

    @property
    def object_history_template(self):
        return "simple_history/object_history.html" if self._tracked else "admin/object_history.html"

    def get_urls(self):
        if self._tracked:
            return super().get_urls()
        return super(SimpleHistoryAdmin, self).get_urls()

    def history_view(self, request, object_id, extra_context=None):
        if self._tracked:
            return super().history_view(request, object_id, extra_context)
        return super(SimpleHistoryAdmin, self).history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        """A version's form would offer a revert; the history list's diffs already say what changed."""
        if request.method != "GET":
            return HttpResponseNotAllowed(["GET"])
        opts = self.model._meta
        return redirect(f"admin:{opts.app_label}_{opts.model_name}_history", object_id)

    def revert_disabled(self, request, obj=None):
        return True
