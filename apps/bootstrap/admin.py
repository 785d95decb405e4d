"""The editors' side of the bootstrap: start a domain, follow its steps, edit and review its content.

The change page of a bootstrap is the review page: steps with their errors (a failed
one can be retried), the research candidates with why they were chosen, the
generated statements (editable while in review, each with its citations) and the
review decisions with their comments. Every write goes through ``services``.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Case, Value, When
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from unfold.admin import TabularInline
from unfold.decorators import action, display
from unfold.enums import ActionVariant
from unfold.widgets import UnfoldAdminTextareaWidget, UnfoldAdminTextInputWidget

from apps.bootstrap import admin_workspace as workspace
from apps.bootstrap import services
from apps.bootstrap.models import BootstrapStep, DomainBootstrap, GeneratedContent, ResearchCandidate, ReviewDecision
from apps.core.admin import LIVE_MEDIA, ReadOnlyInline, StateAwareActionsMixin, live, status_label
from apps.core.exceptions import ServiceError
from apps.core.widgets import DropZoneFileInput
from apps.domains.access import writable_domains
from apps.domains.scoped_admin import DomainScopedAdmin
from apps.search import admin_views as cms_views

# Badge colour per displayed status.
STATUS_LABELS = {
    "Running": "info", "In review": "warning", "Active": "success", "Failed": "danger",
    "Pending": "", "Queued": "info", "Waiting": "info", "Succeeded": "success",
    "Ready": "success", "Not ingested": "",
}


def _can_write(request, bootstrap: DomainBootstrap | None) -> bool:
    if bootstrap is None:
        return False
    return request.user.is_superuser or writable_domains(request.user).filter(pk=bootstrap.domain_id).exists()


MOVING_STEPS = (BootstrapStep.Status.QUEUED, BootstrapStep.Status.RUNNING, BootstrapStep.Status.WAITING)


def _step_label(value: str) -> str:
    return BootstrapStep.Step(value).label if value in BootstrapStep.Step.values else (value or "—")


def _documents_text(bootstrap: DomainBootstrap) -> str:
    text = f"{bootstrap.documents_done + bootstrap.documents_failed} / {bootstrap.documents_expected} finished"
    return f"{text} ({bootstrap.documents_failed} failed)" if bootstrap.documents_failed else text


def _badge(bootstrap_or_step) -> str:
    return status_label(bootstrap_or_step.get_status_display(), bootstrap_or_step.get_status_display(), STATUS_LABELS)


def bootstrap_live_state(bootstrap: DomainBootstrap, steps: list[BootstrapStep]) -> dict:
    """What ``cms/live.js`` puts in place on a bootstrap's page: badge, current step, documents, step badges."""
    succeeded = sum(1 for s in steps if s.status == BootstrapStep.Status.SUCCEEDED)
    return {
        # Approval queues activation while the status still reads "In review": a moving step counts too.
        "active": bootstrap.status == DomainBootstrap.Status.RUNNING or any(s.status in MOVING_STEPS for s in steps),
        "status": bootstrap.status,
        "badge": _badge(bootstrap),
        "step": _step_label(bootstrap.current_step),
        "documents": _documents_text(bootstrap),
        "progress": int(100 * succeeded / len(steps)) if steps else 0,
        "error": bootstrap.error,
        **{f"step:{s.step}": _badge(s) for s in steps},
    }


class MultipleFileField(forms.FileField):
    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(d, initial) for d in data]
        return [single(data, initial)] if data else []


class BootstrapStartForm(forms.Form):
    name = forms.CharField(max_length=200, widget=UnfoldAdminTextInputWidget)
    slug = forms.SlugField(max_length=80, required=False, widget=UnfoldAdminTextInputWidget,
                           help_text="Derived from the name when left empty.")
    description = forms.CharField(required=False, widget=UnfoldAdminTextareaWidget(attrs={"rows": 3}))
    topic_keywords = forms.CharField(required=False, widget=UnfoldAdminTextInputWidget,
                                     help_text="Comma separated; used to find matching documents in your other domains.")
    seed_urls = forms.CharField(required=False, widget=UnfoldAdminTextareaWidget(attrs={"rows": 3}),
                                help_text="One URL per line.")
    seed_title = forms.CharField(required=False, max_length=300, widget=UnfoldAdminTextInputWidget,
                                 label="Seed text title")
    seed_text = forms.CharField(required=False, widget=UnfoldAdminTextareaWidget(attrs={"rows": 8}),
                                label="Seed text", help_text="Pasted text to start the knowledge base from.")
    seed_files = MultipleFileField(
        required=False, label="Seed files",
        widget=DropZoneFileInput(hint="PDF, DOCX, HTML, Markdown or text; as many as you like, sent with the form."),
    )


class DecisionForm(forms.Form):
    comment = forms.CharField(required=False, widget=UnfoldAdminTextareaWidget(attrs={"rows": 4}))


class StepInline(ReadOnlyInline):
    model = BootstrapStep
    fields = ["step", "status_badge", "attempt", "started_at", "finished_at", "error", "output_summary"]
    readonly_fields = fields
    verbose_name_plural = "Steps"

    @display(description="Status")
    def status_badge(self, obj):
        return live("bootstrap", obj.bootstrap_id, f"step:{obj.step}", _badge(obj))

    @display(description="Output")
    def output_summary(self, obj):
        return ", ".join(f"{k}: {v}" for k, v in obj.output.items() if not isinstance(v, list | dict))[:300] or "—"


class CandidateInline(ReadOnlyInline):
    model = ResearchCandidate
    fk_name = "bootstrap"
    fields = ["title", "kind", "reason", "chosen", "outcome_badge", "document_link", "error"]
    readonly_fields = fields
    verbose_name_plural = "Research: candidate sources"

    @display(description="Outcome")
    def outcome_badge(self, obj):
        return status_label(obj.get_outcome_display(), obj.get_outcome_display(), STATUS_LABELS)

    @display(description="Document")
    def document_link(self, obj):
        if obj.document_id is None:
            return "—"
        return format_html('<a href="{}">#{}</a>', reverse("admin:documents_document_change", args=[obj.document_id]),
                           obj.document_id)


class ContentForm(forms.ModelForm):
    class Meta:
        model = GeneratedContent
        fields = ["title", "body"]
        widgets = {"body": UnfoldAdminTextareaWidget(attrs={"rows": 3}), "title": UnfoldAdminTextInputWidget}


class ContentInline(TabularInline):
    model = GeneratedContent
    form = ContentForm
    extra = 0
    can_delete = False
    fields = ["section", "title", "body", "citation_links", "edited_by"]
    readonly_fields = ["section", "citation_links", "edited_by"]
    verbose_name_plural = "Generated content (current round)"

    def get_queryset(self, request):
        section_order = Case(*[When(section=value, then=Value(i)) for i, value in enumerate(GeneratedContent.Section.values)])
        return (super().get_queryset(request).exclude(status=GeneratedContent.Status.SUPERSEDED)
                .order_by(section_order, "ordinal"))

    @display(description="Citations")
    def citation_links(self, obj):
        return format_html_join(
            " ", '<a href="{}" title="{}">doc {} · chunk {} [{}–{}]</a>',
            ((reverse("admin:documents_document_change", args=[c["document_id"]]), c.get("quote", "")[:200],
              c["document_id"], c["chunk_id"], c["start"], c["end"]) for c in obj.citations),
        ) or "—"

    def has_view_permission(self, request, obj=None):
        return True

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return obj is not None and obj.status == DomainBootstrap.Status.IN_REVIEW and _can_write(request, obj)


class DecisionInline(ReadOnlyInline):
    model = ReviewDecision
    fields = ["created_at", "round", "decision", "comment", "decided_by"]
    readonly_fields = fields
    verbose_name_plural = "Review decisions"


@admin.register(DomainBootstrap)
class DomainBootstrapAdmin(StateAwareActionsMixin, DomainScopedAdmin):
    list_display = ["domain", "status_badge", "step_display", "documents_progress", "generation_round", "created_at"]
    list_filter = ["status"]
    search_fields = ["domain__name", "domain__slug"]
    list_select_related = ["domain"]
    readonly_fields = ["domain", "status_badge", "step_display", "keywords", "documents_progress",
                       "generation_round", "error", "created_by", "created_at", "reviewed_at", "activated_at",
                       "graph_link"]
    fieldsets = [
        (None, {"fields": ["domain", "status_badge", "step_display", "documents_progress", "generation_round", "error"]}),
        ("Topic", {"fields": ["keywords", "graph_link"]}),
        ("Timeline", {"fields": ["created_by", "created_at", "reviewed_at", "activated_at"]}),
    ]
    inlines = [StepInline, ContentInline, DecisionInline, CandidateInline]
    actions_detail = ["approve", "request_changes", "retry_failed_step"]
    # Domain-level CMS pages (search preview, graph views) live under this admin's URLs.
    custom_urls = (
        ("search/<slug:slug>/", "domain-search-preview", cms_views.search_preview),
        ("graph/<slug:slug>/", "domain-graph", cms_views.domain_graph),
        ("entity-graph/<int:entity_id>/", "entity-graph", cms_views.entity_graph),
        ("search/", "domain-search", cms_views.domain_search),
        ("workspaces/", "domain-workspaces", workspace.workspace_index),
        ("workspace/<slug:slug>/", "domain-workspace", workspace.domain_workspace),
    )

    @property
    def media(self):
        return super().media + LIVE_MEDIA

    @display(description="Status")
    def status_badge(self, obj):
        return live("bootstrap", obj.pk, "badge", _badge(obj))

    @display(description="Current step")
    def step_display(self, obj):
        return live("bootstrap", obj.pk, "step", _step_label(obj.current_step))

    @display(description="Topic keywords")
    def keywords(self, obj):
        return ", ".join(obj.topic_keywords) or "—"

    @display(description="Documents")
    def documents_progress(self, obj):
        return live("bootstrap", obj.pk, "documents", _documents_text(obj))

    @display(description="Knowledge graph")
    def graph_link(self, obj):
        url = reverse("admin:domain-graph", args=[obj.domain.slug])
        search = reverse("admin:domain-search-preview", args=[obj.domain.slug])
        return format_html('<a class="text-primary-600" href="{}">Graph view</a> · '
                           '<a class="text-primary-600" href="{}">Search preview</a>', url, search)

    # --- permissions -------------------------------------------------------------

    def has_add_permission(self, request):
        return request.user.is_active and request.user.is_staff  # the creator becomes the new domain's owner

    def has_change_permission(self, request, obj=None):
        # The page is the review page: editable content lives in the inline, the rest is read-only.
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # deleting the domain removes its bootstrap

    def detail_action_applies(self, request, obj, action_name):
        if action_name in ("approve", "request_changes"):
            return obj.status == DomainBootstrap.Status.IN_REVIEW
        if action_name == "retry_failed_step":
            return obj.steps.filter(status=BootstrapStep.Status.FAILED).exists()
        return True

    def has_review_permission(self, request, object_id=None):
        bootstrap = DomainBootstrap.objects.filter(pk=object_id).first()
        return _can_write(request, bootstrap)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "show_save_and_add_another": False, "show_save_as_new": False}
        return super().change_view(request, object_id, form_url, extra_context)

    # --- start a bootstrap (the add page) ---------------------------------------------

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = BootstrapStartForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                bootstrap = services.bootstrap_start(
                    user=request.user, name=data["name"], slug=data["slug"], description=data["description"],
                    topic_keywords=[k for k in data["topic_keywords"].split(",") if k.strip()],
                    seed_urls=data["seed_urls"].split(), seed_files=request.FILES.getlist("seed_files"),
                    seed_texts=[{"title": data["seed_title"], "text": data["seed_text"]}] if data["seed_text"].strip() else [],
                )
            except ServiceError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(request, f"Bootstrap of “{bootstrap.domain.name}” started.", messages.SUCCESS)
                return redirect("admin:bootstrap_domainbootstrap_change", bootstrap.pk)
        context = {
            **self.admin_site.each_context(request), "title": "Bootstrap a new domain", "form": form,
            "opts": self.model._meta, "submit_label": "Start bootstrap", "multipart": True,
            "intro": "Give the domain a name, optional topic keywords and seed sources. Research, ingestion and "
                     "content generation run in the background; you review the result before it is published.",
        }
        return TemplateResponse(request, "bootstrap/admin/form.html", context)

    # --- review actions ------------------------------------------------------------

    def _decision(self, request, object_id, *, title, intro, submit, variant, handle):
        bootstrap = get_object_or_404(self.get_queryset(request), pk=object_id)
        form = DecisionForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                handle(bootstrap, form.cleaned_data["comment"])
            except ServiceError as exc:
                form.add_error(None, exc.message)
            else:
                return redirect("admin:bootstrap_domainbootstrap_change", bootstrap.pk)
        context = {
            **self.admin_site.each_context(request), "title": title, "form": form, "opts": self.model._meta,
            "original": bootstrap, "submit_label": submit, "intro": intro, "variant": variant,
        }
        return TemplateResponse(request, "bootstrap/admin/form.html", context)

    @action(description="Approve and publish", permissions=["review"], icon="check_circle",
            variant=ActionVariant.SUCCESS)
    def approve(self, request, object_id):
        def handle(bootstrap, comment):
            services.bootstrap_approve(user=request.user, bootstrap=bootstrap, comment=comment)
            self.message_user(request, "Approved: the domain is being activated.", messages.SUCCESS)

        return self._decision(request, object_id, title="Approve the generated content",
                              intro="The domain becomes active and its overview, key entities and FAQ are published.",
                              submit="Approve and publish", variant="success", handle=handle)

    @action(description="Request changes", permissions=["review"], icon="edit_note", variant=ActionVariant.WARNING)
    def request_changes(self, request, object_id):
        def handle(bootstrap, comment):
            services.bootstrap_request_changes(user=request.user, bootstrap=bootstrap, comment=comment)
            self.message_user(request, "Changes requested: the content is being generated again.", messages.SUCCESS)

        return self._decision(request, object_id, title="Request changes",
                              intro="Say what should change. Generation runs again; statements you edited are kept.",
                              submit="Request changes", variant="warning", handle=handle)

    @action(description="Retry failed step", permissions=["review"], icon="replay")
    def retry_failed_step(self, request, object_id):
        def handle(bootstrap, comment):
            step = bootstrap.steps.filter(status=BootstrapStep.Status.FAILED).first()
            if step is None:
                raise ServiceError("No step of this bootstrap has failed.")
            services.bootstrap_retry_step(user=request.user, step=step)
            self.message_user(request, f"{step.get_step_display()} queued again.", messages.SUCCESS)

        return self._decision(request, object_id, title="Retry the failed step",
                              intro="The failed step is queued again with fresh attempts.",
                              submit="Retry", variant="primary", handle=handle)

    # --- edits of generated content go through the service (who/when, history) ----------

    def save_formset(self, request, form, formset, change):
        if formset.model is not GeneratedContent:
            return super().save_formset(request, form, formset, change)
        for content_form in formset.forms:
            if not content_form.has_changed() or content_form.instance.pk is None:
                continue
            original = GeneratedContent.objects.get(pk=content_form.instance.pk)
            try:
                services.content_update(user=request.user, content=original,
                                        title=content_form.cleaned_data.get("title"),
                                        body=content_form.cleaned_data.get("body"))
            except ServiceError as exc:
                self.message_user(request, exc.message, messages.ERROR)
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def save_model(self, request, obj, form, change):
        pass  # the bootstrap's own fields are written by the workflow only


