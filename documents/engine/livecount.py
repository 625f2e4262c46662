"""How many connections each document has right now, across every process.

Each process knows its own rooms. With Redis, every process also keeps a short-lived key per open document holding
its count (``collab:live:<document>:<instance>``), rewritten when the count changes and refreshed periodically, so
the admin (in any process) sums the keys. A process that dies takes its keys with it when they expire.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import redis
import redis.asyncio as aioredis
from django.conf import settings

from documents.engine.replication import LinkHealth

logger = logging.getLogger("documents.engine.livecount")
KEY_TTL_SECONDS = 30
PREFIX = "collab:live"


def _key(document_id: Any, instance: str) -> str:
    return f"{PREFIX}:{uuid.UUID(str(document_id)).hex}:{instance}"


class LiveCounts:
    """Publishes this process's per-document connection counts to Redis.

    Attributes:
        counts: the latest count per open document in this process.
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

    async def _write(self) -> None:
        await asyncio.sleep(0.05)
        dirty, self._dirty = self._dirty, set()
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for document_id in dirty:
                    count = self.counts.get(document_id, 0)
                    if count:
                        pipe.set(_key(document_id, self.instance), count, ex=KEY_TTL_SECONDS)
                    else:
                        self.counts.pop(document_id, None)
                        pipe.delete(_key(document_id, self.instance))
                await pipe.execute()
        except Exception as exc:
            _write_health.failed(exc)
        else:
            _write_health.succeeded()


_write_health = LinkHealth("publishing live connection counts to Redis")


def connection_count(document_id: Any, local_count: int) -> int:
    """Connections to a document right now: summed over every process with Redis, else this process's own."""
    if not settings.REDIS_URL:
        return local_count
    try:
        client = redis.Redis.from_url(settings.REDIS_URL)
        pattern = f"{PREFIX}:{uuid.UUID(str(document_id)).hex}:*"
        keys = list(client.scan_iter(match=pattern, count=100))
        return sum(int(value) for value in client.mget(keys) if value is not None) if keys else 0
    except redis.RedisError as exc:
        logger.warning("could not read live connection counts: %s", exc)
        return local_count
