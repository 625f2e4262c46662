"""A Redis outage behind two processes: editing goes on in each process, the logs say so once (not once per update),
and once Redis is back the processes converge again. Uses a private redis-server on a spare port."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rest_framework.authtoken.models import Token

from tests.live_server import free_port
from tests.services import port_open, require
from tests.yclient import open_client

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180), pytest.mark.redis]


class PrivateRedis:
    """A redis-server of the test's own, which the test may stop and start."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not port_open("127.0.0.1", self.port):
            assert time.monotonic() < deadline, "private redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    require(shutil.which("redis-server") is not None, "redis-server is not installed")
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def tokens(alice: Any, bob: Any) -> dict[str, str]:
    return {user.username: Token.objects.get_or_create(user=user)[0].key for user in (alice, bob)}


async def test_redis_outage_is_logged_once_and_healed(
    start_server: Any, private_redis: PrivateRedis, document: Any, tokens: dict
) -> None:
    env = {"REDIS_URL": private_redis.url, "COLLAB_REPLICA_CHECK_SECONDS": "1", "COLLAB_ROOM_GRACE_SECONDS": "30"}
    one, two = start_server(**env), start_server(**env)
    a = await open_client(one.ws_url, document.pk, tokens["alice"])
    b = await open_client(two.ws_url, document.pk, tokens["bob"])
    a.add_paragraph("before")
    await b.wait_for(lambda: b.paragraph_texts() == ["before"])
    private_redis.stop()
    for index in range(100):  # typing through a 5 s outage, in both processes
        (a if index % 2 else b).add_paragraph(f"during {index}")
        await asyncio.sleep(0.05)  # paced typing, about 5 s in all
    private_redis.start()
    expected = ["before"] + [f"during {i}" for i in range(100)]
    await a.wait_for(lambda: sorted(a.paragraph_texts()) == sorted(expected), timeout=30)
    await b.wait_for(lambda: sorted(b.paragraph_texts()) == sorted(expected), timeout=30)
    assert a.paragraph_texts() == b.paragraph_texts()
    for server in (one, two):
        log = server.log()
        assert log.count("Traceback") <= 2, log[-3000:]
        assert "failed (" in log
    await a.close()
    await b.close()
