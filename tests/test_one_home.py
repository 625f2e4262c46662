"""Facts with one home: actions and roles, close codes (and the editor's copy of them), the COLLAB_* variables."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError

from documents.conf import CollabConfig, from_environment
from documents.exceptions import CloseCode, CollabError
from documents.management.commands.frontend_facts import FACTS_FILE, frontend_facts
from documents.models import Role
from documents.permissions import REQUIRED_ROLE, Action, allows


def test_every_action_is_its_own_member_with_a_required_role() -> None:
    # Equal enum values would make aliases (MANAGE_MEMBERS is DELETE): every action must stay distinct.
    assert len({action.value for action in Action}) == len(Action) == len(REQUIRED_ROLE)
    assert Action.MANAGE_MEMBERS is not Action.DELETE
    assert set(REQUIRED_ROLE) == set(Action)


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.VIEWER, {Action.VIEW}),
        (Role.EDITOR, {Action.VIEW, Action.EDIT, Action.RENAME, Action.RESTORE}),
        (Role.OWNER, set(Action)),
        (None, set()),
    ],
)
def test_roles_allow_what_the_contract_says(role: Role | None, allowed: set[Action]) -> None:
    assert {action for action in Action if allows(role, action)} == allowed


@pytest.mark.django_db
def test_refused_member_change_names_the_action(django_user_model: object) -> None:
    from documents.exceptions import AccessDenied
    from documents.models import Document, Membership
    from documents.permissions import authorize

    owner = django_user_model.objects.create_user("owner", password="x")  # type: ignore[attr-defined]
    editor = django_user_model.objects.create_user("editor", password="x")  # type: ignore[attr-defined]
    document = Document.objects.create(title="t", owner=owner)
    Membership.objects.create(document=document, user=editor, role=Role.EDITOR)
    with pytest.raises(AccessDenied, match="editor may not change the members of this document"):
        authorize(editor, document.pk, Action.MANAGE_MEMBERS)


def test_every_error_closes_with_a_listed_code() -> None:
    def subclasses(cls: type) -> list[type]:
        return [cls, *(sub for child in cls.__subclasses__() for sub in subclasses(child))]

    for error in subclasses(CollabError):
        assert isinstance(error.close_code, CloseCode), error


def test_frontend_facts_file_is_generated_from_the_server() -> None:
    call_command("frontend_facts", "--check")
    facts = frontend_facts()
    assert facts["closeCodes"]["ACCESS_REVOKED"] == CloseCode.ACCESS_REVOKED == 4403
    assert facts["roles"] == ["viewer", "editor", "owner"]


def test_frontend_facts_check_fails_when_the_file_is_stale(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    from documents.management.commands import frontend_facts as command

    stale = Path(str(tmp_path)) / "server-facts.json"
    stale.write_text(FACTS_FILE.read_text().replace("4403", "4409"))
    monkeypatch.setattr(command, "FACTS_FILE", stale)
    with pytest.raises(CommandError, match="out of date"):
        call_command("frontend_facts", "--check")


def test_collab_variables_parse_to_their_types() -> None:
    parsed = from_environment({"COLLAB_FLUSH_INTERVAL": "0.5", "COLLAB_BAD_INPUT_CLOSES": "7", "OTHER": "x"})
    assert parsed == {"FLUSH_INTERVAL": 0.5, "BAD_INPUT_CLOSES": 7}
    assert CollabConfig(**parsed).FLUSH_INTERVAL == 0.5


@pytest.mark.parametrize(
    ("name", "value", "form"),
    [("COLLAB_FLUSH_INTERVAL", "1s", "a number"), ("COLLAB_BAD_INPUT_CLOSES", "5.5", "a whole number")],
)
def test_a_malformed_collab_variable_is_named_with_its_form(name: str, value: str, form: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=rf"^{name} must be {form} .*not '{value}'"):
        from_environment({name: value})


def test_every_collab_variable_is_documented() -> None:
    from dataclasses import fields
    from pathlib import Path

    documented = (Path(__file__).resolve().parent.parent / "docs" / "configuration.md").read_text()
    missing = [f"COLLAB_{item.name}" for item in fields(CollabConfig) if f"`COLLAB_{item.name}`" not in documented]
    assert missing == []


def test_protocol_doc_lists_every_close_code() -> None:
    import re
    from pathlib import Path

    protocol = (Path(__file__).resolve().parent.parent / "docs" / "protocol.md").read_text()
    documented = {int(code) for code in re.findall(r"^\| (\d{4}) \|", protocol, flags=re.M)}
    assert documented - {1002} == {int(code) for code in CloseCode}  # 1002 is daphne's, for broken frames


def test_whole_numbers_may_be_written_as_floats() -> None:
    assert from_environment({"COLLAB_MAX_DOCUMENT_BYTES": "1.6e7", "COLLAB_SEGMENT_BYTES": "262144.0"}) == {
        "MAX_DOCUMENT_BYTES": 16_000_000,
        "SEGMENT_BYTES": 262_144,
    }
