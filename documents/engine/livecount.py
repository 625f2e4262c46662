"""How many connections each document has right now, across every process.

Each process knows its own rooms. With Redis, every process also publishes its counts:

- ``collab:live:doc:<document>``, a hash with one field per process (its instance id) holding that process's count;
  the whole key expires ``KEY_TTL_SECONDS`` after its last write, so a document nobody has open anywhere vanishes;
- ``collab:live:proc:<instance>``, a short-lived key saying the process is alive, rewritten with every write.

Counts are rewritten when they change and refreshed periodically (the registry's replica check, well within the
TTL). The reader (the admin, in any process) reads the hashes of a whole page of documents in one pipeline, then
the liveness keys of the processes named in them in a second round trip, and ignores (and removes) the fields of
processes whose liveness key expired: a dead process's counts disappear within the TTL even while other processes
keep the document's hash alive. Two round trips per page whatever the number of documents or keys in Redis (a
third, once, removes the fields of a process that died).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import Iterable
from typing import Any

import redis
import redis.asyncio as aioredis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

from documents.engine.replication import LinkHealth

logger = logging.getLogger("documents.engine.livecount")
KEY_TTL_SECONDS = 30
PREFIX = "collab:live"
# The admin's page must not hang on an unreachable Redis: it then shows this process's own counts.
READ_TIMEOUT_SECONDS = 2.0


def document_key(document_id: Any) -> str:
    """The hash of a document's counts, one field per process."""
    return f"{PREFIX}:doc:{uuid.UUID(str(document_id)).hex}"


def alive_key(instance: str) -> str:
    """The key that exists while the process ``instance`` publishes counts."""
    return f"{PREFIX}:proc:{instance}"


class LiveCounts:
    """Publishes this process's per-document connection counts to Redis.

    Attributes:
        counts: the latest count per open document in this process (a zero stays until it is written).
        _dirty: documents whose count changed since the last write.
    """

    def __init__(self, url: str, instance: str) -> None:
        self.instance = instance
        self.counts: dict[uuid.UUID, int] = {}
        self._redis = aioredis.from_url(url)
        self._dirty: set[uuid.UUID] = set()
        self._writer: asyncio.Task[None] | None = None

    def changed(self, document_id: uuid.UUID, count: int) -> None:
        """Record a new count; written to Redis shortly (changes within a few milliseconds share one write)."""
        self.counts[document_id] = count
        self._dirty.add(document_id)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write())

    async def refresh(self) -> None:
        """Rewrite every count so the keys of a live process never expire."""
        self._dirty.update(self.counts)
        await self._write()

    async def aclose(self) -> None:
        """Close the connections to Redis (the keys expire by themselves)."""
        await self._redis.aclose()

    async def _write(self) -> None:
        await asyncio.sleep(0.05)
        dirty, self._dirty = self._dirty, set()
        written = {document_id: self.counts.get(document_id, 0) for document_id in dirty}
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.set(alive_key(self.instance), 1, ex=KEY_TTL_SECONDS)
                for document_id, count in written.items():
                    key = document_key(document_id)
                    if count:
                        pipe.hset(key, self.instance, count)
                        pipe.expire(key, KEY_TTL_SECONDS)
                    else:
                        pipe.hdel(key, self.instance)
                await pipe.execute()
        except Exception as exc:
            # Written again with the next change or refresh: a field left behind would otherwise be kept alive by
            # this process's liveness key and other processes' writes to the same hash.
            self._dirty |= dirty
            _write_health.failed(exc)
        else:
            for document_id, count in written.items():
                if count == 0 and self.counts.get(document_id) == 0:
                    del self.counts[document_id]
            _write_health.succeeded()


_write_health = LinkHealth("publishing live connection counts to Redis")


@functools.lru_cache(maxsize=4)
def _reader(url: str) -> redis.Redis:
    """One client (with its connection pool) per Redis URL for the whole process, reused by every admin page."""
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=READ_TIMEOUT_SECONDS,
        socket_connect_timeout=READ_TIMEOUT_SECONDS,
        # One immediate retry covers a pooled connection that went stale (Redis restarted); more would only delay
        # the page when Redis is down.
        retry=Retry(NoBackoff(), 1),
    )


def connection_counts(document_ids: Iterable[Any]) -> dict[uuid.UUID, int] | None:
    """Connections to each document right now, summed over every process; None without Redis or when it cannot be
    read (the caller then knows only its own process's counts)."""
    ids = [uuid.UUID(str(document_id)) for document_id in document_ids]
    if not settings.REDIS_URL:
        return None
    if not ids:
        return {}
    client = _reader(settings.REDIS_URL)
    try:
        with client.pipeline(transaction=False) as pipe:
            for document_id in ids:
                pipe.hgetall(document_key(document_id))
            hashes: list[dict[str, str]] = pipe.execute()
        instances = sorted({instance for fields in hashes for instance in fields})
        if not instances:
            return dict.fromkeys(ids, 0)
        alive = {
            instance
            for instance, flag in zip(instances, client.mget([alive_key(i) for i in instances]), strict=True)
            if flag is not None
        }
        _forget_dead(client, ids, hashes, alive)
    except redis.RedisError as exc:
        logger.warning("could not read live connection counts: %s", exc)
        return None
    return {
        document_id: sum(int(count) for instance, count in fields.items() if instance in alive)
        for document_id, fields in zip(ids, hashes, strict=True)
    }


def _forget_dead(client: redis.Redis, ids: list[uuid.UUID], hashes: list[dict[str, str]], alive: set[str]) -> None:
    """Remove the fields of processes that stopped publishing (a third round trip, only after a process died).

    A process that was merely stalled past the TTL writes its fields again with its next refresh."""
    dead = [
        (document_key(document_id), [instance for instance in fields if instance not in alive])
        for document_id, fields in zip(ids, hashes, strict=True)
    ]
    dead = [(key, instances) for key, instances in dead if instances]
    if not dead:
        return
    with client.pipeline(transaction=False) as pipe:
        for key, instances in dead:
            pipe.hdel(key, *instances)
        pipe.execute()
