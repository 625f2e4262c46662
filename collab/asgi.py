"""ASGI entry point: HTTP goes to Django, WebSockets through origin check and authentication to the consumers."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "collab.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.sessions import SessionMiddlewareStack  # noqa: E402

from documents.middleware import BrowserOriginValidator, WebSocketAuthMiddleware  # noqa: E402
from documents.routing import websocket_urlpatterns  # noqa: E402
from documents.store import replay_spill_files  # noqa: E402
from documents.transport import RawSendMiddleware, allow_protocol_close_codes  # noqa: E402

allow_protocol_close_codes()
replay_spill_files()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": BrowserOriginValidator(
            RawSendMiddleware(SessionMiddlewareStack(WebSocketAuthMiddleware(URLRouter(websocket_urlpatterns))))
        ),
    }
)

# Everything imported so far lives as long as the process: exclude it from the cyclic collector. A full collection
# walks every tracked object (about 100,000 after start-up, 60 ms on the development machine), which stalls every
# socket of the process; frozen, the collector walks only what was created since.
gc.freeze()
