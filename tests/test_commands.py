"""``manage.py create_api_token``."""

from __future__ import annotations

import subprocess
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> str:
    out = StringIO()
    call_command("create_api_token", *args, stdout=out)
    return out.getvalue()


def test_prints_only_the_key_and_reuses_it(alice: Any) -> None:
    first = run("alice")
    assert first == Token.objects.get(user=alice).key + "\n"
    assert run("alice") == first


def test_create_user(db: Any) -> None:
    output = run("robot", "--create-user")
    user = get_user_model().objects.get(username="robot")
    assert output.strip() == Token.objects.get(user=user).key
    assert not user.has_usable_password()
    assert run("robot", "--create-user") == output


def test_unknown_user_without_flag(db: Any) -> None:
    with pytest.raises(CommandError, match="No user called 'ghost'"):
        run("ghost")
    assert not get_user_model().objects.filter(username="ghost").exists()
    assert not Token.objects.exists()


def test_invalid_username_is_refused(db: Any) -> None:
    with pytest.raises(CommandError):
        run("bad name!", "--create-user")
    assert not get_user_model().objects.exists()


def test_exit_code_and_stderr(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'cmd.sqlite3'}"
    env = {"DATABASE_URL": db_url, "DJANGO_SETTINGS_MODULE": "tests.settings", "PATH": "/usr/bin:/bin"}
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=env, cwd=ROOT, check=True)
    missing = subprocess.run([*manage, "create_api_token", "ghost"], env=env, cwd=ROOT, capture_output=True, text=True)
    assert missing.returncode == 1
    assert missing.stdout == "" and "No user called 'ghost'" in missing.stderr
    made = subprocess.run(
        [*manage, "create_api_token", "robot", "--create-user"], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert made.returncode == 0
    assert len(made.stdout.strip()) == 40 and made.stdout.count("\n") == 1
