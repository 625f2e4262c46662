"""Configuration that explains itself: every COLLAB_* value has a range, system checks name what is out of it
(documents/checks.py), a malformed value stops the start naming its variable, and ``check --deploy`` warns about
settings that are unsafe in production."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from django.core.checks import Tags, run_checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from documents.conf import ENV_PREFIX, CollabConfig, from_environment, range_of

ROOT = Path(__file__).resolve().parent.parent


def collab_messages(deploy: bool = False) -> dict[str, list[str]]:
    """The messages of our checks, by id."""
    found: dict[str, list[str]] = {}
    for message in run_checks(tags=["collab"], include_deployment_checks=deploy):
        found.setdefault(message.id or "", []).append(message.msg)
    return found


# -- the ranges ---------------------------------------------------------------------------------------------------
def test_every_number_has_a_range_its_default_is_in() -> None:
    for item in fields(CollabConfig):
        allowed = range_of(item)
        if isinstance(item.default, str):
            assert allowed is None, item.name
        else:
            assert allowed is not None and allowed.allows(item.default), item.name


def test_the_documented_ranges_are_the_declared_ones() -> None:
    rows = [line for line in (ROOT / "docs" / "configuration.md").read_text().splitlines() if "`COLLAB_" in line]
    for item in fields(CollabConfig):
        allowed = range_of(item)
        (row,) = [row for row in rows if row.startswith("| ") and f"`{ENV_PREFIX}{item.name}`" in row.split(" | ")[0]]
        assert allowed is None or str(allowed) in row.split(" | ")[2], (item.name, row)


def test_the_defaults_pass(settings: Any) -> None:
    settings.COLLAB = {}
    assert collab_messages() == {}
    call_command("check")  # Django's own checks and ours, as manage.py check runs them


@pytest.mark.parametrize(
    ("overrides", "variable", "allowed"),
    [
        ({"FLUSH_INTERVAL": 0}, "COLLAB_FLUSH_INTERVAL is 0", "more than 0"),
        ({"RATE_UPDATES_PER_SECOND": -5.0}, "COLLAB_RATE_UPDATES_PER_SECOND is -5.0", "more than 0"),
        ({"RATE_SYNC_BURST": 0.5}, "COLLAB_RATE_SYNC_BURST is 0.5", "at least 1"),
        ({"BAD_INPUT_CLOSES": 0}, "COLLAB_BAD_INPUT_CLOSES is 0", "at least 1"),
        ({"ROOM_GRACE_SECONDS": -1}, "COLLAB_ROOM_GRACE_SECONDS is -1", "at least 0"),
        ({"REVALIDATE_SECONDS": 300.0}, "COLLAB_REVALIDATE_SECONDS is 300.0", "more than 0 and at most 60"),
        ({"STORE_RETRY_MAX_SECONDS": 0.0}, "COLLAB_STORE_RETRY_MAX_SECONDS is 0.0", "more than 0"),
        ({"FLUSH_INTERVAL": float("nan")}, "COLLAB_FLUSH_INTERVAL is nan", "more than 0"),
    ],
)
def test_a_value_out_of_range_is_an_error_naming_it(
    settings: Any, overrides: dict[str, Any], variable: str, allowed: str
) -> None:
    settings.COLLAB = overrides
    (message,) = collab_messages()["collab.E001"]
    assert message.startswith(variable + ",") and message.endswith(f"outside its range: {allowed}."), message
    with pytest.raises(SystemCheckError, match=r"collab\.E001"):
        call_command("check")


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"SEGMENT_BYTES": 2_000_000},
            "COLLAB_SEGMENT_BYTES is 2000000, more than COLLAB_MAX_MESSAGE_BYTES (1048576)",
        ),
        (
            {"MAX_MESSAGE_BYTES": 16 * 1024 * 1024, "SEGMENT_BYTES": 1024},
            "COLLAB_MAX_MESSAGE_BYTES is 16777216, more than COLLAB_STORE_BUFFER_DOCUMENT_BYTES (8388608)",
        ),
        (
            {"STORE_BUFFER_BYTES": 4 * 1024 * 1024},
            "COLLAB_STORE_BUFFER_DOCUMENT_BYTES is 8388608, more than COLLAB_STORE_BUFFER_BYTES (4194304)",
        ),
    ],
)
def test_relations_between_knobs_are_checked(settings: Any, overrides: dict[str, Any], expected: str) -> None:
    settings.COLLAB = overrides
    messages = collab_messages()
    assert list(messages) == ["collab.E004"]
    (message,) = messages["collab.E004"]
    assert message.startswith(expected + ": "), message


def test_wrong_types_unknown_keys_and_backends_are_errors(settings: Any) -> None:
    settings.COLLAB = {
        "FLUSH_INTERVAL": "1s",
        "MAX_MESSAGE_BYTES": True,
        "FLUSH_INTERVL": 2,
        "STORE_BACKEND": "no.Such",
    }
    messages = collab_messages()
    assert messages["collab.E002"] == [
        "COLLAB_FLUSH_INTERVAL is '1s', not of type float.",
        "COLLAB_MAX_MESSAGE_BYTES is True, not of type int.",
    ]
    assert messages["collab.E003"] == ["settings.COLLAB has the unknown key 'FLUSH_INTERVL'."]
    (backend,) = messages["collab.E005"]
    assert backend.startswith("COLLAB_STORE_BACKEND is 'no.Such', which cannot be imported")


def test_django_numbers_and_rates_are_checked(settings: Any) -> None:
    settings.PROXY_COUNT = -1
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"login": "20 a minute", "token": "20/min"},
    }
    messages = collab_messages()
    assert messages["collab.E006"] == ["PROXY_COUNT is -1, outside its range: at least 0."]
    assert messages["collab.E007"] == ["LOGIN_THROTTLE_RATE is '20 a minute', not a rate."]


# -- the environment ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("raw", ["inf", "nan", "1s"])
def test_a_malformed_number_names_its_variable(raw: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=r"COLLAB_FLUSH_INTERVAL must be a number \(for example 1.5\)"):
        from_environment({"COLLAB_FLUSH_INTERVAL": raw})


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``manage.py`` in a subprocess with the project settings and a clean COLLAB_* environment plus ``env``."""
    base = {key: value for key, value in os.environ.items() if not key.startswith(ENV_PREFIX)}
    for name in (
        "DEBUG",
        "REDIS_URL",
        "CACHE_URL",
        "SECURE_HTTPS",
        "PROXY_COUNT",
        "LOG_FORMAT",
        "METRICS_TOKEN",
        "METRICS_ALLOW",
    ):
        base.pop(name, None)
    base.update(
        DJANGO_SETTINGS_MODULE="collab.settings",
        SECRET_KEY="a-long-random-secret-key-for-the-check-subprocess-0123456789abcdef",
        DATABASE_URL="sqlite:////tmp/collab-check-subprocess.sqlite3",
        **env,
    )
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=base, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"COLLAB_FLUSH_INTERVAL": "0"}, "(collab.E001) COLLAB_FLUSH_INTERVAL is 0.0, outside its range: more than 0."),
        ({"COLLAB_FLUSH_INTERVAL": "1s"}, "COLLAB_FLUSH_INTERVAL must be a number (for example 1.5), not '1s'"),
        ({"COLLAB_MAX_MESSAGE_BYTES": "abc"}, "COLLAB_MAX_MESSAGE_BYTES must be a whole number (for example 500)"),
        ({"DATABASE_CONN_MAX_AGE": "abc"}, "DATABASE_CONN_MAX_AGE must be a number (for example 60), not 'abc'"),
    ],
)
def test_manage_py_check_names_a_bad_variable(env: dict[str, str], expected: str) -> None:
    result = manage("check", **env)
    assert result.returncode != 0
    assert expected in result.stderr, result.stderr


# -- check --deploy -----------------------------------------------------------------------------------------------
def test_deploy_warnings_name_unsafe_settings(settings: Any) -> None:
    settings.SECURE_HTTPS = False
    settings.METRICS_TOKEN, settings.METRICS_ALLOW = "", []
    settings.REDIS_URL = ""
    settings.COLLAB = {}
    sqlite = ["collab.W004"] if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3") else []
    assert sorted(collab_messages(deploy=True)) == ["collab.W001", "collab.W003", *sqlite]
    assert collab_messages(deploy=False) == {}  # plain check stays quiet
    settings.SECURE_HTTPS, settings.PROXY_COUNT = True, 0
    assert "collab.W002" in collab_messages(deploy=True)
    settings.PROXY_COUNT = 1
    settings.METRICS_TOKEN = "scraper-token"
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    settings.COLLAB = {"STORE_BACKEND": "documents.engine.storage.MemoryStorage"}
    assert sorted(collab_messages(deploy=True)) == [*sqlite, "collab.W005", "collab.W006"]


def test_debug_is_reported_by_djangos_own_deploy_check(settings: Any) -> None:
    settings.DEBUG = True
    ids = {message.id for message in run_checks(tags=[Tags.security], include_deployment_checks=True)}
    assert "security.W018" in ids


def test_manage_py_check_deploy_lists_our_warnings() -> None:
    result = manage("check", "--deploy")
    assert result.returncode == 0, result.stderr
    for warning in ("collab.W001", "collab.W003", "collab.W004"):
        assert warning in result.stderr, result.stderr
    assert manage("check").returncode == 0
