"""Top-level URL configuration."""

from django.contrib import admin
from django.urls import include, path

from documents.web import health
from documents.web.throttling import throttle_posts

urlpatterns = [
    # Probes and the Prometheus scrape: no session, no CSRF, no cookies (documents/web/health.py).
    path("healthz", health.healthz),
    path("readyz", health.readyz),
    path("metrics", health.metrics),
    # The admin's login checks passwords too: the same per-address rate as the site's login form.
    path("admin/login/", throttle_posts("login")(admin.site.login)),
    path("admin/", admin.site.urls),
    path("", include("documents.web.urls")),
]
