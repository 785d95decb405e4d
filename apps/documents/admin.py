"""Documents in the admin, used as a CMS: upload (the pipeline starts), watch processing, reprocess.

The add form calls ``services.document_create`` (same validation as the API); the
"Reprocess" and "Retry failed" actions call the services too, and so do deletes (the
delete page and "Delete selected" call ``services.document_delete``). Chunks, versions,
runs and deliveries are written by the pipeline and shown read-only.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models.functions import Substr
from django.http import HttpResponseRedirect, JsonResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST
from unfold.decorators import action, display
from unfold.widgets import (
    UnfoldAdminFileFieldWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
    UnfoldAdminURLInputWidget,
)

from apps.core import context
from apps.core.admin import (
    LIVE_MEDIA,
    AdvancedAdminMixin,
    ReadOnlyAdmin,
    ReadOnlyInline,
    ServiceDeleteAdmin,
    StateAwareActionsMixin,
    computed_once,
    live,
    status_label,
)
from apps.core.exceptions import ServiceError
from apps.core.widgets import DropZoneFileInput
from apps.documents import selectors, services
from apps.documents.models import (
    Chunk,
    Document,
    DocumentStatus,
    DocumentVersion,
    Notification,
    ProcessingRun,
    StepRun,
    WebhookDelivery,
)
from apps.domains.scoped_admin import DomainScopedAdmin

STATUS_COLORS = {"pending": "info", "processing": "warning", "ready": "success", "failed": "danger"}
RUN_COLORS = {"queued": "info", "running": "warning", "succeeded": "success", "failed": "danger"}
STEP_COLORS = {"pending": "info", "queued": "info", "running": "warning", "succeeded": "success", "failed": "danger"}
CHUNK_PREVIEW = 10


def _duration(step: StepRun) -> str:
    if step.started_at and step.finished_at and step.finished_at >= step.started_at:
        return f"{(step.finished_at - step.started_at).total_seconds():.2f} s"
    return "—"


def run_progress_text(run: ProcessingRun, steps: list[StepRun]) -> str:
    """'3 of 5 steps · 60%' while it runs; a failed run says where it stopped, never "100% done"."""
    succeeded = sum(1 for step in steps if step.status == StepRun.Status.SUCCEEDED)
    if run.status == ProcessingRun.Status.FAILED:
        failed = next((step for step in steps if step.status == StepRun.Status.FAILED), None)
        where = f"stopped at {failed.get_step_display()}" if failed else "stopped"
        return f"{where} · {succeeded} of {len(steps)} steps done"
    if run.status == ProcessingRun.Status.SUCCEEDED:
        return f"all {len(steps)} steps done"
    return f"{succeeded} of {len(steps)} steps · {selectors.run_progress(run=run, steps=steps)}%"


def document_live_state(item: selectors.DocumentProgress, *, timeline: bool = False) -> dict:
    """What ``cms/live.js`` puts in place on the document pages: badge, percent, step, progress text."""
    document, run, step = item.document, item.run, item.current_step
    if run is None:
        text = "waiting for its first run" if item.active else "—"
    else:
        text = run_progress_text(run, item.steps)
        if step is not None:
            text = f"{step.get_step_display()} · {text}"
    state = {
        "active": item.active,
        "status": document.status,
        "badge": status_label(document.status, document.get_status_display(), STATUS_COLORS),
        "progress": item.percent,
        "step": step.get_step_display() if step is not None else "",
        "text": text,
        "error": document.error,
    }
    if timeline:
        state["timeline"] = run_timeline_html(run)
    return state


def run_timeline_html(run: ProcessingRun | None) -> str:
    if run is None:
        return "No run yet."
    steps = selectors.run_steps(run=run)
    rows = format_html_join(
        "",
        "<tr><td class='pr-4 py-1'>{}</td><td class='pr-4'>{}</td><td class='pr-4'>{}</td><td class='pr-4'>{}</td>"
        "<td class='pr-4'>{}</td><td class='text-red-600'>{}</td></tr>",
        (
            (
                step.get_step_display(), status_label(step.status, step.get_status_display(), STEP_COLORS), step.attempt,
                step.started_at.strftime("%Y-%m-%d %H:%M:%S") if step.started_at else "—", _duration(step), step.error or "",
            )
            for step in steps
        ),
    )
    url = reverse("admin:documents_processingrun_change", args=[run.pk])
    return format_html(
        "<p class='mb-2' data-run-progress><a href='{}'>Run {}</a> · {} · {}</p>"
        "<table><thead><tr><th class='text-left pr-4'>Step</th><th class='text-left pr-4'>Status</th>"
        "<th class='text-left pr-4'>Attempt</th><th class='text-left pr-4'>Started</th><th class='text-left pr-4'>Duration</th>"
        "<th class='text-left'>Error</th></tr></thead><tbody>{}</tbody></table>",
        url, run.pk, status_label(run.status, run.get_status_display(), RUN_COLORS), run_progress_text(run, steps), rows,
    )


class VersionInline(ReadOnlyInline):
    model = DocumentVersion
    fk_name = "document"
    fields = ["number", "filename", "mime", "size", "language", "page_count", "status", "error", "created_at"]
    readonly_fields = fields
    verbose_name_plural = "versions"


class ChunkInline(ReadOnlyInline):
    model = Chunk
    fields = ["version_number", "ordinal", "page", "start", "end", "preview"]
    readonly_fields = fields
    per_page = CHUNK_PREVIEW
    verbose_name_plural = "chunks (preview)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("version").defer("embedding", "version__text").order_by("-version__number", "ordinal")

    @display(description="version")
    def version_number(self, obj):
        return obj.version.number

    @display(description="text")
    def preview(self, obj):
        return obj.text if len(obj.text) <= 300 else obj.text[:299] + "…"


class DocumentAddForm(forms.ModelForm):
    """Upload a file, paste text or give a URL: exactly one, validated like the API."""

    # Fields declared on the form skip the admin's formfield_overrides: give them the theme's widgets.
    # The drop zone uploads each file on its own to upload_view (its files never go with this form).
    files = forms.FileField(
        required=False, label="Files",
        widget=DropZoneFileInput(domain_select="#id_domain",
                                 hint="Each file becomes a document, uploaded and processed on its own."),
    )
    title = forms.CharField(required=False, max_length=300, widget=UnfoldAdminTextInputWidget,
                            help_text="Optional; taken from the file's metadata or name, the first line or the page title.")
    # An empty file is the service's to refuse ("The document is empty."), as the API does.
    file = forms.FileField(required=False, allow_empty_file=True, widget=UnfoldAdminFileFieldWidget,
                           help_text="PDF, DOCX, HTML, Markdown or plain text (UTF-8).")
    text = forms.CharField(required=False, widget=UnfoldAdminTextareaWidget(attrs={"rows": 8}), strip=False)
    url = forms.CharField(required=False, max_length=2000, widget=UnfoldAdminURLInputWidget, label="URL",
                          help_text="An http(s) page or file, fetched by the pipeline.")

    class Meta:
        model = Document
        fields = ["domain"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        widget = self.fields["files"].widget
        widget.upload_url = reverse("admin:documents_document_upload")
        widget.list_url = reverse("admin:documents_document_changelist")

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            self.intake = services.intake_prepare(
                upload=cleaned.get("file"), text=cleaned.get("text") or None, title=cleaned.get("title") or None,
                url=cleaned.get("url") or None,
            )
        except ServiceError as exc:
            raise ValidationError(exc.message)
        return cleaned


def _writable(request, document: Document) -> bool:
    return request.user.is_superuser or selectors.document_can_write(user=request.user, document=document)


@admin.register(Document)
class DocumentAdmin(ServiceDeleteAdmin, StateAwareActionsMixin, DomainScopedAdmin):
    list_display = ["title", "domain", "status_badge", "progress", "source", "current_mime", "created_at"]
    # "created_at" as a filter (today, past 7 days, this month, this year: no query), not a date
    # hierarchy, which scanned every document of the domain for its dates on every page.
    list_filter = ["domain", "status", "source", "created_at"]
    search_fields = ["title", "source_url", "versions__filename"]
    list_select_related = ["domain", "current_version"]
    # Newest first by primary key (the model's "-created_at" has no index: a sort of the whole domain).
    ordering = ["-pk"]
    actions = ["reprocess", "retry_failed"]
    actions_detail = ["reprocess_detail", "retry_failed_detail"]
    readonly_fields = [
        "domain", "source", "source_url", "status_badge", "error", "created_by", "created_at", "updated_at",
        "version_info", "run_timeline",
    ]
    fieldsets = [
        (None, {"fields": ["title", "domain", "source", "source_url", "status_badge", "error"]}),
        ("Current version", {"fields": ["version_info"]}),
        ("Processing", {"fields": ["run_timeline"]}),
        ("Bookkeeping", {"fields": ["created_by", "created_at", "updated_at"]}),
    ]
    add_fieldsets = [
        (None, {"fields": ["domain"]}),
        ("Upload files", {"fields": ["files"]}),
        ("Or add one document", {"fields": ["title", "file", "text", "url"]}),
    ]

    @property
    def media(self):
        return super().media + LIVE_MEDIA

    def get_urls(self):
        upload = path("upload/", self.admin_site.admin_view(self.upload_view), name="documents_document_upload")
        return [upload, *super().get_urls()]

    @method_decorator(require_POST)
    def upload_view(self, request):
        """One file of a multi-file upload: a document of its own, or this file's error (JSON).

        The drop zone posts each file separately, so a bad file fails alone and the others go on.
        Validation and creation are the add form's (``services.intake_prepare`` / ``document_create``).
        """
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = self.get_form(request)(data={"domain": request.POST.get("domain")}, files={"file": request.FILES.get("file")})
        if request.FILES.get("file") is None:
            return JsonResponse({"error": "No file in the request."}, status=400)
        if not form.is_valid():
            errors = [
                str(error) if name == "__all__" else f"{form.fields[name].label}: {error}"
                for name, field_errors in form.errors.items() for error in field_errors
            ]
            return JsonResponse({"error": " ".join(errors) or "The file was refused."}, status=400)
        document, created = services.document_create_from_intake(
            domain=form.cleaned_data["domain"], user=request.user, intake=form.intake,
            request_id="" if context.request_id.get() == "-" else context.request_id.get(),
        )
        return JsonResponse({
            "id": document.pk, "title": document.title, "created": created,
            "url": reverse("admin:documents_document_change", args=[document.pk]),
            "badge": self.status_badge(document),
            "message": "" if created else "The same content is already in this domain; this is that document.",
        }, status=201 if created else 200)

    def get_queryset(self, request):
        # A version's text (the whole document) is never shown here: leave it in the database.
        return super().get_queryset(request).select_related("domain", "current_version").defer("current_version__text")

    def detail_action_applies(self, request, obj, action_name):
        if action_name == "retry_failed_detail":
            return obj.status == DocumentStatus.FAILED
        return True

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = DocumentAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def get_inlines(self, request, obj):
        return [] if obj is None else [VersionInline, ChunkInline]

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        document, created = services.document_create_from_intake(
            domain=form.cleaned_data["domain"], user=request.user, intake=form.intake,
            request_id="" if context.request_id.get() == "-" else context.request_id.get(),
        )
        # The admin goes on with ``obj`` (log entry, redirect): make it the document the service made.
        obj.__dict__.update({k: v for k, v in document.__dict__.items() if k != "_state"})
        obj._state.adding = False
        request._document_created = created

    def delete_through_service(self, request, obj):
        services.document_delete(document=obj)

    def response_add(self, request, obj, post_url_continue=None):
        if "_addanother" in request.POST:
            return super().response_add(request, obj, post_url_continue)
        if getattr(request, "_document_created", True):
            self.message_user(request, f"“{obj}” was added; processing has started.", messages.SUCCESS)
        else:
            self.message_user(request, "The same content is already in this domain; here is that document.", messages.WARNING)
        # The change page shows the run timeline: the natural place to watch processing.
        return HttpResponseRedirect(reverse("admin:documents_document_change", args=[obj.pk]))

    @display(description="Status", ordering="status")
    def status_badge(self, obj):
        return live("document", obj.pk, "badge", status_label(obj.status, obj.get_status_display(), STATUS_COLORS))

    @display(description="Progress")
    def progress(self, obj):
        # A running document's step and percent come with the page's first progress poll (no run query per row).
        settled = {DocumentStatus.READY: "done", DocumentStatus.FAILED: "failed"}
        return live("document", obj.pk, "text", settled.get(obj.status, "…"))

    @display(description="Type")
    def current_mime(self, obj):
        return obj.current_version.mime if obj.current_version else "—"

    @display(description="Version")
    @computed_once
    def version_info(self, obj):
        version = obj.current_version or obj.versions.order_by("-number").first()
        if version is None:
            return "—"
        facts = [
            ("Number", version.number), ("File", version.filename or "—"), ("Type", version.mime or "—"),
            ("Size", f"{version.size:,} bytes"), ("Language", version.language or "—"),
            ("Pages", version.page_count if version.page_count is not None else "—"),
            ("Chunks", version.chunks.count()), ("SHA-256", version.content_hash or "—"),
        ]
        return format_html_join("", "<div><strong>{}:</strong> {}</div>", facts)

    @display(description="Run timeline")
    @computed_once
    def run_timeline(self, obj):
        return live("document", obj.pk, "timeline", run_timeline_html(selectors.document_latest_run(document=obj)),
                    block=True)

    def _each_writable(self, request, documents, call) -> tuple[int, list[str]]:
        done, errors = 0, []
        for document in documents:
            if not _writable(request, document):
                errors.append(f"{document}: read-only for you")
                continue
            try:
                call(document)
                done += 1
            except ServiceError as exc:
                errors.append(f"{document}: {exc.message}")
        return done, errors

    def _report(self, request, verb: str, done: int, errors: list[str]) -> None:
        if done:
            self.message_user(request, f"{verb} {done} document(s).", messages.SUCCESS)
        for error in errors:
            self.message_user(request, error, messages.WARNING)

    @admin.action(description="Reprocess from the start")
    def reprocess(self, request, queryset):
        done, errors = self._each_writable(request, queryset, lambda d: services.document_reprocess(document=d))
        self._report(request, "Reprocessing", done, errors)

    @admin.action(description="Retry failed steps")
    def retry_failed(self, request, queryset):
        done, errors = self._each_writable(request, queryset, lambda d: services.document_retry_failed(document=d))
        self._report(request, "Retrying", done, errors)

    def _detail(self, request, object_id, method) -> HttpResponseRedirect:
        document = self.get_queryset(request).filter(pk=object_id).first()
        if document is not None:
            method(request, Document.objects.filter(pk=document.pk))
        return HttpResponseRedirect(reverse("admin:documents_document_change", args=[object_id]))

    @action(description="Reprocess", url_path="reprocess")
    def reprocess_detail(self, request, object_id):
        return self._detail(request, object_id, self.reprocess)

    @action(description="Retry failed", url_path="retry-failed")
    def retry_failed_detail(self, request, object_id):
        return self._detail(request, object_id, self.retry_failed)


@admin.register(DocumentVersion)
class DocumentVersionAdmin(ReadOnlyAdmin, DomainScopedAdmin):
    list_display = ["document", "number", "mime", "size", "language", "page_count", "status_badge", "created_at"]
    list_filter = ["domain", "status", "mime"]
    search_fields = ["document__title", "filename", "content_hash"]
    list_select_related = ["document"]
    # The model orders by document, i.e. by the documents' creation date: a join and a sort of every row.
    ordering = ["-pk"]
    exclude = ["text"]
    readonly_fields = ["text_preview"]

    def get_queryset(self, request):
        # The list shows no text; the change page's preview loads it (one query for one row).
        return super().get_queryset(request).defer("text")

    @display(description="Status", ordering="status")
    def status_badge(self, obj):
        return status_label(obj.status, obj.get_status_display(), STATUS_COLORS)

    @display(description="Text (first 2,000 characters)")
    def text_preview(self, obj):
        return obj.text[:2000]


@admin.register(Chunk)
class ChunkAdmin(AdvancedAdminMixin, ReadOnlyAdmin, DomainScopedAdmin):
    list_display = ["document", "version_number", "ordinal", "page", "start", "end", "preview"]
    list_filter = ["domain"]
    search_fields = ["text", "document__title"]
    # The version column is its number (the document is the column before): no second join to documents.
    list_select_related = ["document", "version"]
    ordering = ["-pk"]  # the model's (version, ordinal) expands to the documents' dates: a sort of every chunk
    exclude = ["embedding"]

    @display(description="version", ordering="version__number")
    def version_number(self, obj):
        return obj.version.number

    def get_queryset(self, request):
        # Selecting related rows here replaces the changelist's list_select_related: name them all.
        # The list reads 120 characters of each chunk, not its text (sorted along with the rows).
        return (super().get_queryset(request).select_related(*self.list_select_related)
                .defer("embedding", "version__text").annotate(text_start=Substr("text", 1, 120)))

    @display(description="Text")
    def preview(self, obj):
        return obj.text_start


class StepRunInline(ReadOnlyInline):
    model = StepRun
    fields = ["step", "status_badge", "attempt", "queued_at", "started_at", "duration", "lease_owner", "error", "metrics"]
    readonly_fields = fields

    @display(description="Status")
    def status_badge(self, obj):
        return status_label(obj.status, obj.get_status_display(), STEP_COLORS)

    @display(description="Duration")
    def duration(self, obj):
        return _duration(obj)


@admin.register(ProcessingRun)
class ProcessingRunAdmin(ReadOnlyAdmin, DomainScopedAdmin):
    list_display = ["id", "document", "version_number", "status_badge", "progress", "created_at", "finished_at"]
    list_filter = ["domain", "status"]
    search_fields = ["document__title", "request_id"]
    list_select_related = ["document", "version"]
    ordering = ["-pk"]  # newest first, on the primary key's index ("-created_at" has none)
    inlines = [StepRunInline]

    @display(description="version", ordering="version__number")
    def version_number(self, obj):
        return obj.version.number

    @display(description="Status", ordering="status")
    def status_badge(self, obj):
        return status_label(obj.status, obj.get_status_display(), RUN_COLORS)

    def get_queryset(self, request):
        # The progress column reads every run's steps: one prefetch instead of a query per row.
        return (super().get_queryset(request).select_related(*self.list_select_related).defer("version__text")
                .prefetch_related("steps"))

    @display(description="Progress")
    def progress(self, obj):
        return run_progress_text(obj, list(obj.steps.all()))


@admin.register(Notification)
class NotificationAdmin(DomainScopedAdmin):
    list_display = ["title", "user", "domain", "kind", "read_at", "created_at"]
    list_filter = ["domain", "kind"]
    search_fields = ["title", "body", "user__username"]
    readonly_fields = ["user", "domain", "document", "run", "kind", "title", "body", "data", "created_at"]

    def get_queryset(self, request):
        # A notification is its recipient's, not the domain's: other members never see it.
        queryset = super().get_queryset(request)
        return queryset if request.user.is_superuser else queryset.filter(user=request.user)

    def has_add_permission(self, request):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin, DomainScopedAdmin):
    list_display = ["event", "url", "domain", "attempt", "status_code", "ok", "duration_ms", "created_at"]
    list_filter = ["domain", "ok", "event"]
    search_fields = ["url", "error"]
