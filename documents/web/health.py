"""The endpoints operators and orchestrators poll: liveness, readiness and the Prometheus scrape.

``/healthz`` says the process serves; it checks nothing else, because a liveness probe that restarted processes
whenever the database is down would add restarts to an outage. ``/readyz`` says whether this process should be
given traffic: the database and the channel layer answer, the store keeps up with the edits, and the process is not
stopping. ``/metrics`` is the Prometheus text format of documents/metrics.py, guarded by ``METRICS_TOKEN`` and
``METRICS_ALLOW``. docs/monitoring.md describes all three.

They are async views: daphne runs them on the event loop that runs the rooms, so reading the registry and the store
needs no lock; the database probe has a thread of its own. They read neither the session nor the user, so they set
no cookie.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import ipaddress
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.db import close_old_connections, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from documents.engine.registry import RoomRegistry, loaded_registry
from documents.engine.store import DocumentStore, loaded_store
from documents.metrics import exposition
from documents.web.throttling import client_ip

logger = logging.getLogger("documents.web.health")

OK = "ok"
# A dependency that has not answered by then counts as down: probes run every few seconds and must stay cheap.
CHECK_TIMEOUT_SECONDS = 2.0

# One thread for the database probe, and at most one probe at a time: when the database hangs, later probes wait
# for the pending one instead of each holding a thread of their own.
_probe_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="readiness-probe")
_pending_probe: tuple[asyncio.AbstractEventLoop, asyncio.Future[None]] | None = None
# The checks failing at the last probe: a lasting outage logs when it starts and ends, not at every probe.
_failing: set[str] = set()


@never_cache
@require_safe
async def healthz(request: HttpRequest) -> HttpResponse:
    """200 while the process serves HTTP."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
async def readyz(request: HttpRequest) -> HttpResponse:
    """200 when every readiness check passes, else 503; both name each check's result."""
    ready, checks = await readiness()
    body = {"status": "ready" if ready else "unavailable", "checks": checks}
    response = JsonResponse(body, status=200 if ready else 503)
    if not ready:
        # Django logs every 5xx as an error; a failing check is logged when it starts and ends (``_log_change``),
        # not at each probe of a balancer polling every few seconds.
        response._has_been_logged = True  # type: ignore[attr-defined]
    return response


@never_cache
@require_safe
async def metrics(request: HttpRequest) -> HttpResponse:
    """The process's metrics in the Prometheus text format, for allowed scrapers (403 for anyone else)."""
    if not scrape_allowed(request):
        logger.warning(
            "403 for GET /metrics from %s (client %s): not an allowed scraper",
            request.META.get("REMOTE_ADDR"),
            client_ip(request),
        )
        refused = HttpResponse("forbidden\n", status=403, content_type="text/plain; charset=utf-8")
        refused._has_been_logged = True  # type: ignore[attr-defined]  # logged above, with the addresses
        return refused
    body, content_type = exposition()
    return HttpResponse(body, content_type=content_type)


# -- readiness ------------------------------------------------------------------------------------------------------
async def readiness() -> tuple[bool, dict[str, str]]:
    """Whether this process is ready for traffic, and each check's result (``"ok"`` or what is wrong)."""
    database, channel_layer = await asyncio.gather(check_database(), check_channel_layer())
    checks = {
        "database": database,
        "channel_layer": channel_layer,
        "store": check_store(loaded_store()),
        "process": check_process(loaded_registry()),
    }
    for name, result in checks.items():
        _log_change(name, result)
    return all(result == OK for result in checks.values()), checks


async def check_database() -> str:
    """``SELECT 1`` on the writer's database, answered within ``CHECK_TIMEOUT_SECONDS``."""
    global _pending_probe
    loop = asyncio.get_running_loop()
    if _pending_probe is None or _pending_probe[0] is not loop or _pending_probe[1].done():
        _pending_probe = (loop, loop.run_in_executor(_probe_executor, _select_one))
    try:
        await asyncio.wait_for(asyncio.shield(_pending_probe[1]), CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        return f"no answer within {CHECK_TIMEOUT_SECONDS:g} s"
    except Exception as exc:
        return _unavailable(exc)
    return OK


def _select_one() -> None:
    # As around a request: drop a connection that broke or outlived CONN_MAX_AGE, before and after.
    close_old_connections()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        close_old_connections()


async def check_channel_layer() -> str:
    """A ping of every Redis server of the channel layer (the in-memory layer of a single process always answers)."""
    layer: Any = get_channel_layer()
    if layer is None or isinstance(layer, InMemoryChannelLayer) or not hasattr(layer, "connection"):
        return OK
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            for index in range(layer.ring_size):
                await layer.connection(index).ping()
    except TimeoutError:
        return f"no answer within {CHECK_TIMEOUT_SECONDS:g} s"
    except Exception as exc:
        return _unavailable(exc)
    return OK


def check_store(store: DocumentStore | None) -> str:
    """The store's writer is not retrying a failed write, and its buffer has room for edits."""
    if store is None:
        return OK
    if store.failing_since is not None:
        return f"writes failing for {time.monotonic() - store.failing_since:.0f} s, retrying"
    if store.buffer_full():
        return f"buffer full ({store.buffered_bytes} bytes held)"
    return OK


def check_process(registry: RoomRegistry | None) -> str:
    """The process has not begun its graceful stop."""
    return "shutting down" if registry is not None and registry.stopping else OK


def _unavailable(exc: BaseException) -> str:
    # The class name only: the message can name hosts, paths or users, and the endpoint is public.
    return f"unavailable ({type(exc).__name__})"


def _log_change(name: str, result: str) -> None:
    if result != OK and name not in _failing:
        _failing.add(name)
        logger.warning("not ready: %s check failed: %s", name, result)
    elif result == OK and name in _failing:
        _failing.discard(name)
        logger.warning("%s check passes again", name)


# -- who may scrape ---------------------------------------------------------------------------------------------------
def scrape_allowed(request: HttpRequest) -> bool:
    """Whether the request may read the metrics: from an address in ``METRICS_ALLOW`` (when set), bearing
    ``Authorization: Bearer METRICS_TOKEN`` (when set).

    Both the connection's address and the client address the service believes (``client_ip``: behind
    ``PROXY_COUNT`` proxies, the one they forwarded in ``X-Forwarded-For``) must be allowed. The connection's
    address alone would admit anyone through an allowed proxy; the forwarded one alone can be forged by whoever
    reaches a daphne port directly.
    """
    allow = tuple(settings.METRICS_ALLOW)
    addresses = (request.META.get("REMOTE_ADDR"), client_ip(request))
    if allow and not all(address_allowed(address, allow) for address in addresses):
        return False
    token = settings.METRICS_TOKEN
    return not token or bearer_matches(request.headers.get("Authorization", ""), token)


def bearer_matches(header: str, token: str) -> bool:
    """Whether an ``Authorization`` header is ``Bearer <token>`` (compared in constant time)."""
    scheme, _, offered = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(offered.strip().encode(), token.encode())


def address_allowed(address: str | None, entries: tuple[str, ...]) -> bool:
    """Whether a client address is one of ``entries`` (addresses or networks such as ``10.0.0.0/8``)."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # a dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d
    return any(ip in network for network in _networks(entries))


@functools.lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            # Ignored rather than fatal: the list then admits fewer scrapers, never more.
            logger.error("METRICS_ALLOW entry %r is not an address or network; ignored", entry)
    return tuple(networks)
