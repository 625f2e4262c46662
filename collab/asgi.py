"""ASGI entry point: HTTP goes to Django, WebSockets through origin check and authentication to the consumers."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "collab.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.sessions import SessionMiddlewareStack  # noqa: E402

from collab.memory import start_trimming  # noqa: E402
from documents.conf import get_config  # noqa: E402
from documents.engine.store import replay_spill_files  # noqa: E402
from documents.routing import websocket_urlpatterns  # noqa: E402
from documents.ws.middleware import BrowserOriginValidator, WebSocketAuthMiddleware  # noqa: E402
from documents.ws.transport import (  # noqa: E402
    RawSendMiddleware,
    allow_protocol_close_codes,
    release_closed_connections,
)

allow_protocol_close_codes()
release_closed_connections()
replay_spill_files()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": BrowserOriginValidator(
            RawSendMiddleware(SessionMiddlewareStack(WebSocketAuthMiddleware(URLRouter(websocket_urlpatterns))))
        ),
    }
)

# The cyclic collector stops the event loop, so every socket of the process, for as long as a pass takes. Everything
# imported so far lives as long as the process: freeze it out of the collector (a full pass over it alone took
# 60 ms). What a busy server creates later still makes full passes slow (500 sockets: 80-100 ms, 20 of them in
# 3 minutes under the soak run), so collections start after 50,000 new objects instead of 700: passes are that
# much rarer, and what they free waits a little longer. That is only cheap because reference counting frees nearly
# everything at once: a young-generation pass comes every few minutes and an older one far more rarely, so an object
# left in a reference cycle can stay for an hour. Closed connections used to be (documents/ws/transport.py,
# documents/logcontext.py, the consumer's ``_leave``); tests/test_connection_garbage.py keeps them freed.
gc.freeze()
gc.set_threshold(50_000, 20, 20)

# Freed memory goes back to the operating system every minute: without it, resident memory creeps up under a steady
# load as the threads' heaps fragment (collab/memory.py).
start_trimming(get_config().MALLOC_TRIM_SECONDS)
