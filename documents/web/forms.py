"""Forms of the pages (the accounts forms are Django's own)."""

from __future__ import annotations

from django import forms

from documents.conf import get_config
from documents.models import MEMBER_ROLES, Document, Role


class TitleForm(forms.Form):
    """A document title, for creating and renaming."""

    title = forms.CharField(
        max_length=Document.TITLE_MAX_LENGTH,
        strip=True,
        widget=forms.TextInput(attrs={"placeholder": "Untitled document", "autocomplete": "off"}),
    )


class MemberForm(forms.Form):
    """A username and the role to give them."""

    username = forms.CharField(max_length=150, widget=forms.TextInput(attrs={"autocomplete": "off"}))
    role = forms.ChoiceField(choices=MEMBER_ROLES, initial=Role.EDITOR)


class ImportForm(forms.Form):
    """A Markdown file to import as a new document (its title defaults to the file name)."""

    file = forms.FileField(
        label="Markdown file",
        widget=forms.ClearableFileInput(attrs={"accept": ".md,.markdown,.txt,text/markdown,text/plain"}),
    )

    def clean_file(self) -> str:
        """The file's text: UTF-8 and within the import size limit."""
        upload = self.cleaned_data["file"]
        if upload.size > get_config().MAX_IMPORT_BYTES:
            raise forms.ValidationError(f"The file is larger than {get_config().MAX_IMPORT_BYTES // 1024} KiB.")
        try:
            return upload.read().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise forms.ValidationError("The file is not UTF-8 text.") from exc
