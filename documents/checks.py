"""System checks of the service's configuration, so ``manage.py check`` explains a value out of place.

Errors (``manage.py check``, and every command that runs the checks, ``migrate`` included): a ``COLLAB_*`` value
outside the range its field declares (``documents/conf.py``), of the wrong type or unknown (``settings.COLLAB``
set by hand), a relation between knobs that would refuse legitimate traffic, a storage backend that cannot be
imported, and the numbers ``collab/settings.py`` reads for Django out of their range. Warnings
(``manage.py check --deploy``): settings of ours that are unsafe in production. Django's own deploy checks cover
DEBUG, the secret key, HSTS and the secure cookies' settings; ours name the variables that set them here.

Registered from ``DocumentsConfig.ready()``; docs/configuration.md lists what each id means.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import fields
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string

from documents.conf import (
    AT_LEAST_ONE,
    ENV_PREFIX,
    IMAGE_FORMATS,
    IMAGE_STORAGES,
    NOT_NEGATIVE,
    CollabConfig,
    Range,
    image_types,
    range_of,
)

TAG = "collab"
DOCS = "see docs/configuration.md"
MEMORY_STORAGE = "documents.engine.storage.MemoryStorage"

# (smaller, larger, what goes wrong otherwise): the first knob's value may not exceed the second's.
RELATIONS: tuple[tuple[str, str, str], ...] = (
    (
        "SEGMENT_BYTES",
        "MAX_MESSAGE_BYTES",
        "joining clients would be sent messages larger than the server accepts from them",
    ),
    (
        "MAX_MESSAGE_BYTES",
        "STORE_BUFFER_DOCUMENT_BYTES",
        "an edit of the largest accepted size could never be buffered: its writer would be closed with 1013 at "
        "every attempt",
    ),
    (
        "STORE_BUFFER_DOCUMENT_BYTES",
        "STORE_BUFFER_BYTES",
        "the process could not hold what one document may: its bound would refuse edits the document's allows",
    ),
)


def _cooloff_seconds() -> float | None:
    cooloff = getattr(settings, "AXES_COOLOFF_TIME", None)
    return cooloff.total_seconds() if isinstance(cooloff, timedelta) else None


# Numbers collab/settings.py reads from the environment for Django and its apps: (variable, value, range).
DJANGO_NUMBERS: tuple[tuple[str, Callable[[], Any], Range], ...] = (
    ("DATABASE_CONN_MAX_AGE", lambda: settings.DATABASES["default"].get("CONN_MAX_AGE"), NOT_NEGATIVE),
    ("PROXY_COUNT", lambda: getattr(settings, "PROXY_COUNT", 0), NOT_NEGATIVE),
    ("SECURE_HSTS_SECONDS", lambda: settings.SECURE_HSTS_SECONDS, NOT_NEGATIVE),
    ("DATA_UPLOAD_MAX_MEMORY_SIZE", lambda: settings.DATA_UPLOAD_MAX_MEMORY_SIZE, AT_LEAST_ONE),
    ("LOGIN_LOCKOUT_SECONDS", _cooloff_seconds, NOT_NEGATIVE),
)
# The rate throttles' scopes (REST_FRAMEWORK's DEFAULT_THROTTLE_RATES) and the variables that set them.
THROTTLE_VARIABLES = {
    "login": "LOGIN_THROTTLE_RATE",
    "token": "TOKEN_THROTTLE_RATE",
    "updates": "UPDATE_THROTTLE_RATE",
    "images": "IMAGE_THROTTLE_RATE",
}
THROTTLE_PERIODS = {"s", "m", "h", "d"}  # DRF reads the period's first letter: N/s, N/min, N/hour, N/day


def collab_values() -> dict[str, Any]:
    """The ``COLLAB_*`` values in force: each field's default, overridden by ``settings.COLLAB``."""
    overrides = getattr(settings, "COLLAB", {}) or {}
    return {item.name: overrides.get(item.name, item.default) for item in fields(CollabConfig)}


def _is_of_type(value: Any, kind: type) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, (int, float)) if kind is float else isinstance(value, kind)


@checks.register(TAG)
def check_collab_values(**kwargs: Any) -> list[checks.CheckMessage]:
    """Every ``COLLAB_*`` value is of its field's type and inside its range; no unknown key in ``settings.COLLAB``."""
    messages: list[checks.CheckMessage] = []
    values = collab_values()
    for item in fields(CollabConfig):
        name, value, kind = ENV_PREFIX + item.name, values[item.name], type(item.default)
        if not _is_of_type(value, kind):
            messages.append(
                checks.Error(
                    f"{name} is {value!r}, not of type {kind.__name__}.", hint=DOCS, obj=name, id="collab.E002"
                )
            )
            continue
        allowed = range_of(item)
        if allowed is not None and not allowed.allows(value):
            messages.append(
                checks.Error(
                    f"{name} is {value!r}, outside its range: {allowed}.",
                    hint=f"Set {name} to a value {allowed} (default {item.default!r}); {DOCS}.",
                    obj=name,
                    id="collab.E001",
                )
            )
    known = {item.name for item in fields(CollabConfig)}
    for key in sorted(set(getattr(settings, "COLLAB", {}) or {}) - known):
        messages.append(
            checks.Error(
                f"settings.COLLAB has the unknown key {key!r}.", hint=DOCS, obj=f"COLLAB[{key!r}]", id="collab.E003"
            )
        )
    return messages


@checks.register(TAG)
def check_collab_relations(**kwargs: Any) -> list[checks.CheckMessage]:
    """The relations between knobs that matter (``RELATIONS``), once both values are numbers."""
    values = collab_values()
    messages: list[checks.CheckMessage] = []
    for smaller, larger, why in RELATIONS:
        low, high = values[smaller], values[larger]
        if not all(_is_of_type(value, float) for value in (low, high)) or low <= high:
            continue
        messages.append(
            checks.Error(
                f"{ENV_PREFIX}{smaller} is {low!r}, more than {ENV_PREFIX}{larger} ({high!r}): {why}.",
                hint=f"Keep {ENV_PREFIX}{smaller} at most {ENV_PREFIX}{larger}; {DOCS}.",
                obj=ENV_PREFIX + smaller,
                id="collab.E004",
            )
        )
    return messages


@checks.register(TAG)
def check_store_backend(**kwargs: Any) -> list[checks.CheckMessage]:
    """``COLLAB_STORE_BACKEND`` names a class that can be imported (the first room load would fail otherwise)."""
    path = collab_values()["STORE_BACKEND"]
    if not isinstance(path, str):
        return []  # reported by check_collab_values
    try:
        import_string(path)
    except ImportError as exc:
        return [
            checks.Error(
                f"{ENV_PREFIX}STORE_BACKEND is {path!r}, which cannot be imported ({exc}).",
                hint=f"A dotted path such as {CollabConfig.STORE_BACKEND!r} or {MEMORY_STORAGE!r}.",
                obj=f"{ENV_PREFIX}STORE_BACKEND",
                id="collab.E005",
            )
        ]
    return []


@checks.register(TAG)
def check_images(**kwargs: Any) -> list[checks.CheckMessage]:
    """``COLLAB_IMAGE_TYPES`` names types the server can re-encode; ``COLLAB_IMAGE_STORAGE`` is one it knows, and
    S3 has a bucket."""
    values = collab_values()
    messages: list[checks.CheckMessage] = []
    types, storage = values["IMAGE_TYPES"], values["IMAGE_STORAGE"]
    if isinstance(types, str):
        names = image_types(types)
        unknown = [name for name in names if name not in IMAGE_FORMATS]
        if unknown or not names:
            messages.append(
                checks.Error(
                    f"{ENV_PREFIX}IMAGE_TYPES is {types!r}: "
                    + (f"unknown types {', '.join(unknown)}." if unknown else "no type at all."),
                    hint=f"A comma list of {', '.join(IMAGE_FORMATS)}; {DOCS}.",
                    obj=f"{ENV_PREFIX}IMAGE_TYPES",
                    id="collab.E008",
                )
            )
    if isinstance(storage, str) and storage not in IMAGE_STORAGES:
        messages.append(
            checks.Error(
                f"{ENV_PREFIX}IMAGE_STORAGE is {storage!r}, not one of {', '.join(IMAGE_STORAGES)}.",
                hint=DOCS,
                obj=f"{ENV_PREFIX}IMAGE_STORAGE",
                id="collab.E008",
            )
        )
    elif storage == "s3" and not getattr(settings, "AWS_STORAGE_BUCKET_NAME", ""):
        messages.append(
            checks.Error(
                f"{ENV_PREFIX}IMAGE_STORAGE is 's3' but AWS_STORAGE_BUCKET_NAME is not set.",
                hint=f"Name the bucket images go to; {DOCS}.",
                obj="AWS_STORAGE_BUCKET_NAME",
                id="collab.E008",
            )
        )
    return messages


@checks.register(TAG)
def check_django_numbers(**kwargs: Any) -> list[checks.CheckMessage]:
    """The numbers read for Django (``DJANGO_NUMBERS``) are in range, and the throttle rates are DRF rates."""
    messages: list[checks.CheckMessage] = []
    for name, read, allowed in DJANGO_NUMBERS:
        value = read()
        if value is not None and not allowed.allows(value):
            messages.append(
                checks.Error(
                    f"{name} is {value!r}, outside its range: {allowed}.", hint=DOCS, obj=name, id="collab.E006"
                )
            )
    framework: dict[str, Any] = getattr(settings, "REST_FRAMEWORK", {})
    rates: dict[str, Any] = framework.get("DEFAULT_THROTTLE_RATES") or {}
    for scope, name in THROTTLE_VARIABLES.items():
        rate = rates.get(scope)
        if rate is not None and not _is_rate(rate):
            messages.append(
                checks.Error(
                    f"{name} is {rate!r}, not a rate.",
                    hint="Requests per period: N/s, N/min, N/hour or N/day (for example 20/min).",
                    obj=name,
                    id="collab.E007",
                )
            )
    return messages


def _is_rate(rate: Any) -> bool:
    """Whether DRF's throttles can read ``rate`` (``N/period``)."""
    if not isinstance(rate, str):
        return False
    count, _, period = rate.partition("/")
    return count.strip().isdigit() and period.strip()[:1] in THROTTLE_PERIODS


@checks.register(TAG, checks.Tags.security, deploy=True)
def check_deployment(**kwargs: Any) -> list[checks.CheckMessage]:
    """Settings of ours that are unsafe in production (``manage.py check --deploy``)."""
    return list(_deployment_warnings())


def _deployment_warnings() -> Iterator[checks.CheckMessage]:
    secure_https = getattr(settings, "SECURE_HTTPS", False)
    if not secure_https:
        yield checks.Warning(
            "SECURE_HTTPS is off: the session and CSRF cookies lack the secure flag (browsers also send them over "
            "plain HTTP), and the service takes itself to be served over HTTP.",
            hint="Serve through an HTTPS proxy and set SECURE_HTTPS=1 (docs/deployment.md).",
            obj="SECURE_HTTPS",
            id="collab.W001",
        )
    elif getattr(settings, "PROXY_COUNT", 0) == 0:
        yield checks.Warning(
            "SECURE_HTTPS=1 (behind a proxy) with PROXY_COUNT=0: every client has the proxy's address, so all of "
            "them share one login rate, and failed logins for a username lock it out for everyone.",
            hint="Set PROXY_COUNT to the number of proxies that append to X-Forwarded-For (1 for one nginx).",
            obj="PROXY_COUNT",
            id="collab.W002",
        )
    if hasattr(settings, "METRICS_TOKEN") and not settings.METRICS_TOKEN and not getattr(settings, "METRICS_ALLOW", []):
        yield checks.Warning(
            "METRICS_TOKEN and METRICS_ALLOW are both empty: /metrics answers anyone.",
            hint="Set METRICS_TOKEN, METRICS_ALLOW or both (docs/monitoring.md).",
            obj="METRICS_TOKEN",
            id="collab.W003",
        )
    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        yield checks.Warning(
            "The database is SQLite: one file on this machine, which processes on other machines cannot share.",
            hint="Set DATABASE_URL to a PostgreSQL database (docs/deployment.md).",
            obj="DATABASE_URL",
            id="collab.W004",
        )
    if getattr(settings, "REDIS_URL", "") and settings.CACHES["default"]["BACKEND"].endswith("LocMemCache"):
        yield checks.Warning(
            "REDIS_URL is set (several processes) but CACHE_URL is not: each process counts the per-address login "
            "and token rates on its own, so a client may try that many times as often.",
            hint="Set CACHE_URL (the same Redis will do).",
            obj="CACHE_URL",
            id="collab.W005",
        )
    if collab_values()["STORE_BACKEND"] == MEMORY_STORAGE:
        yield checks.Warning(
            f"{ENV_PREFIX}STORE_BACKEND is the memory backend: documents are lost when the process stops.",
            hint=f"Leave {ENV_PREFIX}STORE_BACKEND unset (the database backend).",
            obj=f"{ENV_PREFIX}STORE_BACKEND",
            id="collab.W006",
        )
