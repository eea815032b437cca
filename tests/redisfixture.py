"""A real ``redis-server`` for the tests (registered as a pytest plugin in conftest.py).

``redis_server`` starts one throwaway server per session on a free 127.0.0.1 port, with
persistence off, and yields its URL; ``redis_client`` gives each test an empty database. Tests
run against the real server rather than a fake because stream trimming, Lua and expiry
semantics are exactly what fakes get subtly wrong.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

_START_TIMEOUT = 5.0
_ATTEMPTS = 3


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _start(binary: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    """Start a server and wait for PING; retry on another port if the chosen one was taken."""
    problems: list[str] = []
    for attempt in range(_ATTEMPTS):
        port = _free_port()
        log = workdir / f"redis-{port}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [
                    binary,
                    "--save", "",
                    "--appendonly", "no",
                    "--port", str(port),
                    "--bind", "127.0.0.1",
                    "--daemonize", "no",
                    "--dir", str(workdir),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=workdir,
            )  # fmt: skip
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline and proc.poll() is None:
            client = redis.Redis.from_url(url, socket_connect_timeout=0.2, socket_timeout=0.5)
            try:
                if client.ping():
                    return proc, url, log
            except redis.exceptions.RedisError:
                time.sleep(0.05)
            finally:
                client.close()
        _stop(proc)
        tail = log.read_text(errors="replace")[-800:]
        problems.append(f"attempt {attempt + 1} on port {port}: {tail.strip() or 'no output'}")
    pytest.fail("redis-server did not answer PING within 5 s:\n" + "\n".join(problems))


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL (``redis://127.0.0.1:N/0``) of a throwaway redis-server, shared by the session."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(
            "redis-server is not on PATH; the Redis tests run against a real server. "
            "Install it with: apt-get install -y redis-server"
        )
    proc, url, _log = _start(binary, tmp_path_factory.mktemp("redis"))
    try:
        yield url
    finally:
        _stop(proc)


@pytest.fixture
def redis_client(redis_server: str) -> Iterator[redis.Redis]:
    """A client on an emptied database (FLUSHALL before each test); bytes in, bytes out."""
    client = redis.Redis.from_url(redis_server, decode_responses=False)
    client.flushall()
    try:
        yield client
    finally:
        client.close()
