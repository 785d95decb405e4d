"""Admin form widgets shared by every app.

``DropZoneFileInput`` is a file input for many files with a drop zone around it
(``cms/upload.js``). In a form (seed files of a bootstrap) the dropped or chosen files are
listed and go with the form. Given an ``upload_url`` it uploads each file on its own as
soon as it is dropped (posting ``file`` and the domain chosen in ``domain_select``), with its own progress bar and its own error: one bad file fails
alone and the others go on.
"""

from __future__ import annotations

from django import forms


class DropZoneFileInput(forms.FileInput):
    allow_multiple_selected = True
    template_name = "cms/widgets/dropzone.html"

    def __init__(self, attrs=None, *, upload_url: str = "", list_url: str = "", domain_select: str = "", hint: str = ""):
        super().__init__(attrs)
        self.upload_url, self.list_url, self.domain_select, self.hint = upload_url, list_url, domain_select, hint

    @property
    def media(self):
        return forms.Media(js=["cms/upload.js"], css={"all": ["cms/live.css"]})

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["widget"].update(upload_url=self.upload_url, list_url=self.list_url, domain_select=self.domain_select, hint=self.hint)
        return context
