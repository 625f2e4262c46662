"""The Content-Security-Policy header (django-csp), with the page's own WebSocket origin in ``connect-src``."""

from __future__ import annotations

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponseBase


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware; ``connect-src`` also names ``ws(s)://<this host>``.

    CSP Level 3 lets ``'self'`` match the page's own host over ``ws:``/``wss:``, but older browsers read ``'self'``
    as the page's scheme only; naming the socket's origin works in both. The host is the request's own, which
    Django has already checked against ``ALLOWED_HOSTS``.
    """

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        setting = "CONTENT_SECURITY_POLICY_REPORT_ONLY" if report_only else "CONTENT_SECURITY_POLICY"
        if "connect-src" not in (getattr(settings, setting, None) or {}).get("DIRECTIVES", {}):
            return parts  # adding it would replace default-src for connections
        try:
            host = request.get_host()
        except DisallowedHost:
            return parts
        socket_origin = f"{'wss' if request.is_secure() else 'ws'}://{host}"
        parts.update = {**(parts.update or {})}
        parts.update["connect-src"] = [*parts.update.get("connect-src", ()), socket_origin]
        return parts
