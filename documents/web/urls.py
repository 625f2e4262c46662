"""HTTP routes: the pages, the accounts pages, and the REST API under /api/."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from documents.web import api, api_content, api_images, api_versions, views
from documents.web.api_errors import api_not_found
from documents.web.throttling import throttle_posts

api_urlpatterns = [
    path("api/token/", api.TokenView.as_view(), name="api-token"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The schema's pages, from the app's own static files. Swagger UI's start script is a separate request (the
    # "split" view) and Redoc's page starts from attributes, so both run under the Content-Security-Policy's
    # script-src 'self'; the Redoc page is the package's without its web fonts and search worker (see the template).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path(
        "api/redoc/",
        SpectacularRedocView.as_view(url_name="api-schema", template_name="api/redoc.html"),
        name="api-redoc",
    ),
    path("api/documents/", api.DocumentListView.as_view(), name="api-document-list"),
    path("api/documents/<str:document_id>/", api.DocumentDetailView.as_view(), name="api-document-detail"),
    path("api/documents/<str:document_id>/members/", api.MemberListView.as_view(), name="api-member-list"),
    path(
        "api/documents/<str:document_id>/members/<str:username>/",
        api.MemberDetailView.as_view(),
        name="api-member-detail",
    ),
    path("api/documents/<str:document_id>/export", api.ExportView.as_view(), name="api-document-export"),
    path("api/documents/<str:document_id>/content", api_content.ContentView.as_view(), name="api-document-content"),
    path("api/documents/<str:document_id>/update", api_content.UpdateView.as_view(), name="api-document-update"),
    path("api/documents/<str:document_id>/images/", api_images.ImageUploadView.as_view(), name="api-image-upload"),
    path("api/documents/<str:document_id>/versions/", api_versions.VersionListView.as_view(), name="api-version-list"),
    path(
        "api/documents/<str:document_id>/versions/<str:version_id>/",
        api_versions.VersionDetailView.as_view(),
        name="api-version-detail",
    ),
    path(
        "api/documents/<str:document_id>/versions/<str:version_id>/restore",
        api_versions.VersionRestoreView.as_view(),
        name="api-version-restore",
    ),
    # Anything else under /api/ answers a JSON 404, like the endpoints themselves.
    re_path(r"^api/", api_not_found),
]

page_urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/signup/", views.SignupView.as_view(), name="signup"),
    # Each POST counts against the "login" rate per client address; django-axes locks out repeated failures.
    path("accounts/login/", throttle_posts("login")(views.LoginView.as_view()), name="login"),
    path("accounts/logout/", views.LogoutView.as_view(), name="logout"),
    path("documents/new/", views.create_document, name="document-create"),
    path("documents/import/", views.import_document, name="document-import"),
    path("documents/<str:document_id>/", views.document_page, name="document"),
    path("documents/<str:document_id>/rename/", views.rename_document, name="document-rename"),
    path("documents/<str:document_id>/delete/", views.delete_document, name="document-delete"),
    path("documents/<str:document_id>/share/", views.share_page, name="document-share"),
    path("documents/<str:document_id>/share/remove/", views.remove_member, name="document-share-remove"),
    # An image of the document, to its readers only (session or API token): the editor's <img src>.
    path("documents/<str:document_id>/images/<str:image_id>", api_images.ImageView.as_view(), name="document-image"),
]

urlpatterns = api_urlpatterns + page_urlpatterns
