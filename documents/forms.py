"""Forms of the pages (the accounts forms are Django's own)."""

from __future__ import annotations

from django import forms

from .conf import get_config
from .models import Role


class TitleForm(forms.Form):
    """A document title, for creating and renaming."""

    title = forms.CharField(
        max_length=get_config().MAX_TITLE_LENGTH,
        strip=True,
        widget=forms.TextInput(attrs={"placeholder": "Untitled document", "autocomplete": "off"}),
    )


class MemberForm(forms.Form):
    """A username and the role to give them."""

    username = forms.CharField(max_length=150, widget=forms.TextInput(attrs={"autocomplete": "off"}))
    role = forms.ChoiceField(choices=Role.choices, initial=Role.EDITOR)
