"""Entity curation in the admin: merge into another entity (one or many), undo a merge, open the graph view.

Mixed into ``EntityAdmin`` (detail actions, the changelist's "Merge selected into…" and the
merge-target autocomplete). Every write goes through ``apps.search.services.entities``, one
merge per source entity, so each merge of a bulk merge has its own "Undo merge"; rename,
retype and aliases are the entity form's own fields.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from unfold.decorators import action
from unfold.widgets import UnfoldAdminAutocompleteModelChoiceFieldWidget

from apps.core.exceptions import ServiceError
from apps.domains.access import readable_domains, writable_domains
from apps.search.models import Entity, EntityMerge
from apps.search.services.entities import entity_merge, entity_unmerge

AUTOCOMPLETE_PAGE = 20


def merge_targets(domain_id: int):
    """The entities another entity of ``domain_id`` may be merged into: the unmerged ones."""
    return Entity.objects.filter(domain_id=domain_id, merged_into__isnull=True).order_by("-mention_count", "name", "pk")


def target_label(entity: Entity) -> str:
    return f"{entity.name} · {entity.get_type_display()} · {entity.mention_count} mentions"


class TargetChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return target_label(obj)


class MergeForm(forms.Form):
    """The merge target, searched as the editor types (select2 through unfold's autocomplete widget).

    The widget renders only the chosen option; the choices come from ``merge_targets_view``,
    scoped to the entities' domain. The field's queryset still validates the posted id.
    """

    target = TargetChoiceField(queryset=Entity.objects.none(), widget=UnfoldAdminAutocompleteModelChoiceFieldWidget,
                               help_text="The entity that stays; the mentions and relations of the others move to it.")

    def __init__(self, *args, domain_id: int, exclude=(), **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["target"]
        field.queryset = merge_targets(domain_id).exclude(pk__in=list(exclude))
        url = reverse("admin:search_entity_merge_targets", args=[domain_id])
        if exclude:
            url += "?" + "&".join(f"exclude={pk}" for pk in exclude)
        field.widget.attrs.update({"data-ajax--url": url, "data-placeholder": "Type to search this domain's entities"})


class MergeSelectedForm(MergeForm):
    """The bulk action's intermediate page: the target, plus what Django's changelist needs to
    route the second POST back to the action (its name, the selected ids, ``post``)."""

    action = forms.CharField(widget=forms.HiddenInput, initial="merge_selected")
    post = forms.CharField(widget=forms.HiddenInput, initial="yes")
    selected = forms.MultipleChoiceField(widget=forms.MultipleHiddenInput, required=False)

    def __init__(self, *args, selected, **kwargs):
        super().__init__(*args, exclude=selected, **kwargs)
        self.fields["selected"].choices = [(str(pk), str(pk)) for pk in selected]
        self.fields["selected"].initial = [str(pk) for pk in selected]
        # Django's changelist reads the ids from this exact name.
        self.fields[helpers.ACTION_CHECKBOX_NAME] = self.fields.pop("selected")


class EntityCurationMixin:
    actions_detail = ["merge_into", "undo_merge", "graph_view"]
    actions = ["merge_selected"]

    def get_urls(self):
        own = [path("merge-targets/<int:domain_id>/", self.admin_site.admin_view(self.merge_targets_view),
                    name="search_entity_merge_targets")]
        return own + super().get_urls()

    def merge_targets_view(self, request, domain_id: int):
        """select2's JSON for the merge target: unmerged entities of one readable domain matching ``term``.

        The domain must be one the user may read (``get_queryset`` scopes by membership); a
        domain they cannot read answers 404, as its objects do everywhere else.
        """
        if not self.has_view_permission(request):
            raise PermissionDenied
        if not readable_domains(request.user).filter(pk=domain_id).exists():
            raise Http404("No such domain.")
        queryset = merge_targets(domain_id)
        excluded = [int(pk) for pk in request.GET.getlist("exclude") if pk.isdigit()]
        if excluded:
            queryset = queryset.exclude(pk__in=excluded)
        term = request.GET.get("term", "").strip()
        if term:
            queryset = queryset.filter(Q(name__icontains=term) | Q(aliases__icontains=term) | Q(key__icontains=term))
        try:
            page = max(1, int(request.GET.get("page", 1)))
        except ValueError:
            page = 1
        start = (page - 1) * AUTOCOMPLETE_PAGE
        rows = list(queryset[start : start + AUTOCOMPLETE_PAGE + 1])
        return JsonResponse({
            "results": [{"id": str(entity.pk), "text": target_label(entity)} for entity in rows[:AUTOCOMPLETE_PAGE]],
            "pagination": {"more": len(rows) > AUTOCOMPLETE_PAGE},
        })

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
        form = MergeForm(request.POST or None, domain_id=entity.domain_id, exclude=[entity.pk])
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

    @admin.action(description="Merge selected into…", permissions=["curate_selected"])
    def merge_selected(self, request, queryset):
        """Merge every selected entity into one target of the same domain, one ``entity_merge`` each."""
        entities = list(queryset.order_by("pk"))
        domains = {entity.domain_id for entity in entities}
        if len(domains) != 1:
            self.message_user(request, "Select entities of one domain: entities of different domains cannot be merged.",
                              messages.ERROR)
            return None
        domain_id = domains.pop()
        form = MergeSelectedForm(request.POST if "target" in request.POST else None, domain_id=domain_id,
                                 selected=[entity.pk for entity in entities])
        if "target" in request.POST and form.is_valid():
            target = form.cleaned_data["target"]
            merged, refusals = [], []
            for entity in entities:
                try:
                    entity_merge(user=request.user, source=entity, target=target)
                except ServiceError as exc:
                    refusals.append(f"“{entity.name}” was not merged: {exc.message}")
                else:
                    merged.append(entity.name)
            if merged:
                self.message_user(request, f"Merged {len(merged)} into “{target.name}”: {', '.join(merged)}. "
                                  "Each has its own “Undo merge”.", messages.SUCCESS)
            for refusal in refusals:
                self.message_user(request, refusal, messages.ERROR)
            return redirect("admin:search_entity_change", target.pk)
        names = ", ".join(entity.name for entity in entities[:10]) + (" …" if len(entities) > 10 else "")
        context = {**self.admin_site.each_context(request), "title": f"Merge {len(entities)} entities into another",
                   "form": form, "opts": self.model._meta, "submit_label": "Merge", "variant": "primary",
                   "intro": f"{names}: their mentions and relations move to the chosen entity. Each merge is recorded "
                            "and can be undone on its own."}
        return TemplateResponse(request, "bootstrap/admin/form.html", context)

    def has_curate_selected_permission(self, request):
        return request.user.is_superuser or writable_domains(request.user).exists()

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
