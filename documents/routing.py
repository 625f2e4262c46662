"""WebSocket URL routes: the y-websocket endpoint, and a refusal (HTTP 403) for every other path."""

from django.urls import re_path

from documents.ws.consumers import DocumentConsumer, RejectConsumer

websocket_urlpatterns = [
    # The reference provider dials serverUrl + "/" + roomname: no trailing slash (one is tolerated).
    re_path(r"^ws/documents/(?P<document_id>[^/?]+)/?$", DocumentConsumer.as_asgi()),
    re_path(r"", RejectConsumer.as_asgi()),
]
