"""The one database: PostgreSQL, named by DATABASE_URL or, for the local demo, the embedded
server that `make run` starts in var/postgres (see docs/architecture.md, "One database").

Nothing here starts a server: this module only tells where the database is.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

import environ
from django.core.exceptions import ImproperlyConfigured

POSTGRESQL_ENGINE = "django.db.backends.postgresql"
EMBEDDED_DATABASE_NAME = "listing_ai"


def embedded_socket_dir(pgdata: Path) -> Path:
    """Where the embedded server listens: it serves a Unix socket only (no TCP port to
    collide with), in the directory PostgreSQL records on line 5 of postmaster.pid; the data
    directory itself until the server has run."""
    try:
        recorded = (pgdata / "postmaster.pid").read_text().splitlines()[4].strip()
    except (OSError, IndexError):
        return pgdata
    return Path(recorded) if recorded else pgdata


def embedded_database_url(pgdata: Path, name: str = EMBEDDED_DATABASE_NAME) -> str:
    return f"postgres://postgres@/{name}?host={quote(str(embedded_socket_dir(pgdata)))}"


def database_settings(url: str) -> dict:
    """Django's DATABASES entry for `url`; anything but PostgreSQL is refused."""
    try:
        config = environ.Env.db_url_config(url)
    except Exception as error:  # django-environ raises several kinds for a malformed URL
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL ({error}).") \
            from error
    if config.get("ENGINE") != POSTGRESQL_ENGINE:
        raise ImproperlyConfigured(
            f"DATABASE_URL must name a PostgreSQL database (postgres://user@host:port/name); "
            f"got {url.split(':', 1)[0]}://. Listing AI runs on PostgreSQL only, the demo "
            f"included: unset DATABASE_URL and `make run` starts an embedded PostgreSQL.")
    options = config.setdefault("OPTIONS", {})
    # libpq's form for a Unix socket: postgres://user@/name?host=/socket/directory
    if not config.get("HOST") and "host" in options:
        config["HOST"] = options.pop("host")
    return config


def reset_pooled_connection(conn) -> None:
    """What a connection must not carry to its next user when it goes back to the pool: the
    generation pipeline's asynchronous commit (generation.pipeline)."""
    conn.autocommit = True  # the pool has rolled back whatever was left open
    conn.execute("RESET synchronous_commit")


# A forked child (django-q's cluster, Celery's prefork pool, multiprocessing) inherits its
# parent's pools and open connections: their sockets are the parent's sessions, and two
# processes talking on one socket hang or corrupt both. The child forgets them (kept here, so
# they are never used nor closed: psycopg closes nothing in a process that did not open it) and
# opens its own pool on first use.
_inherited_from_parent: list = []


def forget_parent_connections() -> None:
    from django.db import connections
    from django.db.backends.postgresql.base import DatabaseWrapper

    _inherited_from_parent.extend(DatabaseWrapper._connection_pools.values())
    DatabaseWrapper._connection_pools.clear()
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None:
            _inherited_from_parent.append(conn.connection)
            conn.connection = None


def forget_parent_connections_in_forked_children() -> None:
    if not getattr(forget_parent_connections_in_forked_children, "registered", False):
        os.register_at_fork(after_in_child=forget_parent_connections)
        forget_parent_connections_in_forked_children.registered = True
