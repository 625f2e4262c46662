"""Password guessing: django-axes locks out repeated failures, DRF's rate throttles cap attempts per client address.

Both checks of a password -- the login form and ``POST /api/token/`` -- are covered by both:

- django-axes counts failed attempts per username *and* client address (``AXES_LOCKOUT_PARAMETERS``); at
  ``LOGIN_FAILURE_LIMIT`` failures that pair is refused for ``LOGIN_LOCKOUT_SECONDS`` (every refused attempt starts
  that time again). Keyed by the pair, an attacker locks out only themselves: the owner of the account still logs in
  from anywhere else.
- A rate throttle counts every attempt per client address (``LOGIN_THROTTLE_RATE``, ``TOKEN_THROTTLE_RATE``), which
  bounds guessing across many usernames from one address.

A refused attempt answers 429 with ``Retry-After``: JSON under /api/, the page ``registration/locked_out.html`` on
the login form. See docs/security.md.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from functools import wraps
from types import SimpleNamespace
from typing import Any

from axes.helpers import get_cool_off  # type: ignore[import-untyped]
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import render
from rest_framework.throttling import BaseThrottle, ScopedRateThrottle

logger = logging.getLogger("documents.web.throttling")

LOCKED_OUT = "Too many failed attempts to log in; try again later."
THROTTLED = "Too many attempts to log in from this address; try again later."


def client_ip(request: HttpRequest) -> str | None:
    """The client address both throttles key on (``AXES_CLIENT_IP_CALLABLE``): DRF's, which trusts
    ``X-Forwarded-For`` only as far as ``NUM_PROXIES`` (the ``PROXY_COUNT`` setting) says."""
    return BaseThrottle().get_ident(request)  # type: ignore[arg-type]  # it reads only request.META


def too_many_attempts(request: HttpRequest, message: str, retry_after: int) -> HttpResponse:
    """429 with ``Retry-After``: JSON under /api/, else a page saying how long to wait."""
    response: HttpResponse
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": message}, status=429)
    else:
        context = {"message": message, "retry_after": retry_after, "minutes": max(1, math.ceil(retry_after / 60))}
        response = render(request, "registration/locked_out.html", context, status=429)
    response["Retry-After"] = str(retry_after)
    return response


def lockout_response(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """``AXES_LOCKOUT_CALLABLE``: the answer to an attempt while its username and address are locked out."""
    cool_off = get_cool_off(request)
    retry_after = max(1, math.ceil(cool_off.total_seconds())) if cool_off else 3600
    logger.warning("429 for %s %s: login locked out (%s)", request.method, request.path, client_ip(request))
    return too_many_attempts(request, LOCKED_OUT, retry_after)


View = Callable[..., HttpResponseBase]


def throttle_posts(scope: str) -> Callable[[View], View]:
    """Wrap a Django view so that its POSTs count against the DRF throttle rate ``scope`` per client address."""

    def decorate(view: View) -> View:
        throttled_view = SimpleNamespace(throttle_scope=scope)

        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.method == "POST":
                throttle = ScopedRateThrottle()
                # DRF's throttles read only ``META`` and ``user`` from the request, which a Django request has.
                if not throttle.allow_request(request, throttled_view):  # type: ignore[arg-type]
                    retry_after = max(1, math.ceil(throttle.wait() or 1))
                    logger.warning("429 for POST %s: %s throttle (%s)", request.path, scope, client_ip(request))
                    return too_many_attempts(request, THROTTLED, retry_after)
            return view(request, *args, **kwargs)

        return wrapped

    return decorate
