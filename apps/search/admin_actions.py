"""Entity curation in the admin: merge into another entity, undo a merge, open the graph view.

Mixed into ``EntityAdmin`` (detail actions). Every write goes through
``apps.search.services.entities``; rename and retype are the entity form's own fields.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from unfold.decorators import action
from unfold.widgets import UnfoldAdminSelectWidget

from apps.core.exceptions import ServiceError
from apps.domains.access import writable_domains
from apps.search.models import Entity, EntityMerge
from apps.search.services.entities import entity_merge, entity_unmerge


class MergeForm(forms.Form):
    target = forms.ModelChoiceField(queryset=Entity.objects.none(), widget=UnfoldAdminSelectWidget,
                                    help_text="The entity that stays; this one's mentions and relations move to it.")

    def __init__(self, *args, entity: Entity, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target"].queryset = (
            Entity.objects.filter(domain_id=entity.domain_id, merged_into__isnull=True).exclude(pk=entity.pk)
            .order_by("-mention_count", "name")
        )


class EntityCurationMixin:
    actions_detail = ["merge_into", "undo_merge", "graph_view"]

    def detail_action_applies(self, request, obj, action_name):
        if action_name == "merge_into":
            return obj.merged_into_id is None
        if action_name == "undo_merge":
            return EntityMerge.objects.filter(source=obj, undone_at__isnull=True).exists()
        return super().detail_action_applies(request, obj, action_name)

    def has_curate_permission(self, request, object_id=None):
        entity = Entity.objects.filter(pk=object_id).first()
        return entity is not None and (
            request.user.is_superuser or writable_domains(request.user).filter(pk=entity.domain_id).exists()
        )

    def _entity(self, request, object_id) -> Entity:
        return get_object_or_404(self.get_queryset(request), pk=object_id)

    @action(description="Merge into…", permissions=["curate"], icon="merge")
    def merge_into(self, request, object_id):
        entity = self._entity(request, object_id)
        form = MergeForm(request.POST or None, entity=entity)
        if request.method == "POST" and form.is_valid():
            target = form.cleaned_data["target"]
            try:
                entity_merge(user=request.user, source=entity, target=target)
            except ServiceError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(request, f"“{entity.name}” merged into “{target.name}”; “Undo merge” reverts it.",
                                  messages.SUCCESS)
                return redirect("admin:search_entity_change", target.pk)
        context = {**self.admin_site.each_context(request), "title": f"Merge “{entity.name}” into another entity",
                   "form": form, "opts": self.model._meta, "submit_label": "Merge", "variant": "primary",
                   "intro": "Mentions and relations move to the chosen entity; the merge is recorded and can be undone."}
        return TemplateResponse(request, "bootstrap/admin/form.html", context)

    @action(description="Undo merge", permissions=["curate"], icon="call_split")
    def undo_merge(self, request, object_id):
        entity = self._entity(request, object_id)
        merge = EntityMerge.objects.filter(source=entity, undone_at__isnull=True).order_by("-created_at").first()
        if merge is None:
            self.message_user(request, "This entity is not merged into another.", messages.WARNING)
            return redirect("admin:search_entity_change", entity.pk)
        if request.method == "POST":
            try:
                entity_unmerge(user=request.user, merge=merge)
            except ServiceError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(request, f"Merge of “{entity.name}” into “{merge.target.name}” undone.", messages.SUCCESS)
            return redirect("admin:search_entity_change", entity.pk)
        context = {**self.admin_site.each_context(request), "title": f"Undo the merge of “{entity.name}”",
                   "form": forms.Form(), "opts": self.model._meta, "submit_label": "Undo merge", "variant": "primary",
                   "intro": f"Its mentions and relations move back from “{merge.target.name}”."}
        return TemplateResponse(request, "bootstrap/admin/form.html", context)

    @action(description="Graph", icon="hub")
    def graph_view(self, request, object_id):
        entity = self._entity(request, object_id)
        return redirect("admin:entity-graph", entity.pk)
