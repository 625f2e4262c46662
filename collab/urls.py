"""Top-level URL configuration."""

from django.contrib import admin
from django.urls import include, path

from documents.web.throttling import throttle_posts

urlpatterns = [
    # The admin's login checks passwords too: the same per-address rate as the site's login form.
    path("admin/login/", throttle_posts("login")(admin.site.login)),
    path("admin/", admin.site.urls),
    path("", include("documents.web.urls")),
]
