"""Server-rendered pages: accounts, my documents, the editor shell and sharing. Access goes through permissions."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.generic import FormView

from documents.bridge import replace_content
from documents.exceptions import AccessDenied, DocumentNotFound, InvalidContent
from documents.identity import display_name, user_color
from documents.models import Document, Role
from documents.permissions import Action, accessible_documents, allows, authorize
from documents.web import sharing
from documents.web.forms import ImportForm, MemberForm, TitleForm

if TYPE_CHECKING:
    from django.core.files.uploadedfile import UploadedFile

logger = logging.getLogger("documents.web.views")


def _authorize(request: HttpRequest, document_id: str, action: Action) -> tuple[Document, str]:
    """permissions.authorize, with its errors turned into Django's 404 and 403 responses."""
    try:
        return authorize(request.user, document_id, action)
    except DocumentNotFound as exc:
        raise Http404("No such document.") from exc
    except AccessDenied as exc:
        raise PermissionDenied(str(exc)) from exc


def _back(request: HttpRequest, default: str) -> HttpResponseRedirect:
    """Redirect to the form's ``next`` field when it is a local URL, else to ``default``."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return redirect(target)
    return redirect(default)


class SignupView(FormView):
    """Create an account with Django's user creation form, sign in, and go to my documents."""

    form_class = UserCreationForm
    template_name = "registration/signup.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """Signed-in users have nothing to sign up for."""
        if request.user.is_authenticated:
            return redirect("home")
        return super().get(request, *args, **kwargs)

    def form_valid(self, form: UserCreationForm) -> HttpResponse:
        """Save the user and open their session."""
        user = form.save()
        login(self.request, user, backend=settings.AUTHENTICATION_BACKENDS[0])
        messages.success(self.request, f"Welcome, {display_name(user)}!")
        return redirect("home")


class LoginView(auth_views.LoginView):
    """Django's login page; a signed-in visitor goes straight on."""

    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    """Django's logout (POST); a GET shows a page with the confirming button."""

    http_method_names = ["get", "post", "options"]
    template_name = "registration/logout_confirm.html"


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """My documents: those I own, those shared with me, and the form creating a new one."""
    return _render_home(request, TitleForm())


def _render_home(
    request: HttpRequest, form: TitleForm, status: int = 200, import_form: ImportForm | None = None
) -> HttpResponse:
    documents = list(accessible_documents(request.user).order_by("-updated_at"))
    context = {
        "owned": [document for document in documents if document.role == Role.OWNER],  # type: ignore[attr-defined]
        "shared": [document for document in documents if document.role != Role.OWNER],  # type: ignore[attr-defined]
        "form": form,
        "import_form": import_form or ImportForm(),
        "title_max_length": Document.TITLE_MAX_LENGTH,
    }
    return render(request, "documents/home.html", context, status=status)


@login_required
@require_POST
def create_document(request: HttpRequest) -> HttpResponse:
    """Create a document owned by the caller and open it."""
    form = TitleForm(request.POST)
    if not form.is_valid():
        return _render_home(request, form, status=400)
    document = sharing.create_document(request.user, form.cleaned_data["title"])
    return redirect("document", document_id=document.pk)


@login_required
@require_POST
def import_document(request: HttpRequest) -> HttpResponse:
    """Create a document from an uploaded Markdown file (its title from the file name) and open it."""
    form = ImportForm(request.POST, request.FILES)
    if form.is_valid():
        upload = cast("UploadedFile", form.files["file"])  # MultiValueDict.__getitem__ gives the last file
        title = Path(upload.name or "").stem or "Imported document"
        try:
            with transaction.atomic():
                document = sharing.create_document(request.user, title[: Document.TITLE_MAX_LENGTH])
                replace_content(document, "markdown", form.cleaned_data["file"])
        except (InvalidContent, ValidationError) as exc:
            form.add_error("file", f"Could not import this file: {exc}")
        else:
            messages.success(request, f"Imported “{document.title}”.")
            return redirect("document", document_id=document.pk)
    logger.info("import refused for user %s: %s", request.user.pk, form.errors.as_text())
    return _render_home(request, TitleForm(), status=400, import_form=form)


@login_required
@require_POST
def rename_document(request: HttpRequest, document_id: str) -> HttpResponse:
    """Rename a document (editor or owner)."""
    document, _ = _authorize(request, document_id, Action.RENAME)
    form = TitleForm(request.POST)
    if form.is_valid():
        sharing.rename_document(document, form.cleaned_data["title"])
        messages.success(request, f"Renamed to “{document.title}”.")
    else:
        # ErrorList yields rendered message strings, though the stubs type its items as ValidationError | str
        messages.error(request, "Not renamed: " + " ".join(cast("Iterable[str]", form.errors.get("title", []))))
    return _back(request, reverse("home"))


@login_required
@require_POST
def delete_document(request: HttpRequest, document_id: str) -> HttpResponse:
    """Delete a document (owner only)."""
    document, _ = _authorize(request, document_id, Action.DELETE)
    title = document.title
    sharing.delete_document(document)
    messages.success(request, f"Deleted “{title}”.")
    return redirect("home")


@login_required
@require_GET
def document_page(request: HttpRequest, document_id: str) -> HttpResponse:
    """The editor: a shell the frontend bundle mounts Tiptap into."""
    document, role = _authorize(request, document_id, Action.VIEW)
    context = {
        "document": document,
        "role": role,
        "can_rename": allows(role, Action.RENAME),
        "user_name": display_name(request.user),
        "user_color": user_color(request.user),
    }
    return render(request, "documents/editor.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def share_page(request: HttpRequest, document_id: str) -> HttpResponse:
    """Members and roles: everyone may look, the owner adds members and changes roles."""
    if request.method == "POST":
        return _set_member(request, document_id)
    document, role = _authorize(request, document_id, Action.VIEW)
    context = {
        "document": document,
        "role": role,
        "members": sharing.list_members(document),
        "can_manage": allows(role, Action.MANAGE_MEMBERS),
        "form": MemberForm(),
        "member_roles": MemberForm.base_fields["role"].choices,  # type: ignore[attr-defined]
    }
    return render(request, "documents/share.html", context)


def _set_member(request: HttpRequest, document_id: str) -> HttpResponse:
    document, _ = _authorize(request, document_id, Action.MANAGE_MEMBERS)
    form = MemberForm(request.POST)
    if not form.is_valid():
        for field, problems in form.errors.items():
            messages.error(request, f"{field}: {' '.join(cast('Iterable[str]', problems))}")  # rendered strings
        return redirect("document-share", document_id=document.pk)
    try:
        membership, created = sharing.set_member(document, form.cleaned_data["username"], form.cleaned_data["role"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        verb = "Added" if created else "Updated"
        messages.success(request, f"{verb} {membership.user.get_username()} as {membership.role}.")
    return redirect("document-share", document_id=document.pk)


@login_required
@require_POST
def remove_member(request: HttpRequest, document_id: str) -> HttpResponse:
    """Remove a member (owner only)."""
    document, _ = _authorize(request, document_id, Action.MANAGE_MEMBERS)
    username = request.POST.get("username", "")
    if sharing.remove_member(document, username):
        messages.success(request, f"Removed {username}.")
    else:
        messages.error(request, f"{username or 'That user'} is not a member.")
    return redirect("document-share", document_id=document.pk)
