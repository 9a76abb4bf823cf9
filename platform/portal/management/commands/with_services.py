"""`make test`: run a command with PostgreSQL and Redis there, starting embedded ones if needed.

For each server: the one named by DATABASE_URL / REDIS_URL when set; else the one on
127.0.0.1's standard port when it answers; else an embedded one (portal.embedded_services),
started for the command's run and stopped after it.
"""

from __future__ import annotations

import os
import signal
import subprocess
from contextlib import suppress
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from kernel.processes import Stopped, die_with_parent, stop_on_signals
from portal import embedded_services

# Separate Redis databases: the cache is flushed between tests, the Celery broker is not.
BROKER_DB, CACHE_DB = 14, 15


class Command(BaseCommand):
    help = ("Run a command (after --) with PostgreSQL and Redis available: the configured or "
            "local ones, else embedded ones started for it.")

    def add_arguments(self, parser):
        parser.add_argument("--pgdata", default=str(settings.VAR_DIR / "test-postgres"),
                            help="Data directory of the embedded PostgreSQL, if one is needed.")
        parser.add_argument("--redis-port", type=int, default=6398,
                            help="Port of the embedded Redis, if one is needed.")
        parser.add_argument("--local-postgres", default="127.0.0.1:5432",
                            help="The local PostgreSQL to use when it answers (host:port).")
        parser.add_argument("--local-redis", default="redis://127.0.0.1:6379",
                            help="The local Redis to use when it answers.")
        parser.add_argument("command", nargs="+", help="The command to run.")

    def handle(self, *args, pgdata: str, redis_port: int, local_postgres: str,
               local_redis: str, command: list[str], **options):
        env = dict(os.environ)
        # manage.py set this for itself; the command chooses its own settings (pytest's are
        # config.test_settings, which an inherited config.settings would override).
        env.pop("DJANGO_SETTINGS_MODULE", None)
        started = []
        # Ctrl-C, SIGTERM, SIGHUP: stop the command (all of its processes), then the servers.
        previous = stop_on_signals((signal.SIGINT, signal.SIGTERM, signal.SIGHUP))
        child = None
        try:
            env["DATABASE_URL"], database = self._database(pgdata, local_postgres, started)
            env.update(self._redis(redis_port, local_redis, started))
            self.stdout.write(f"Database: {database} · Redis: {env['REDIS_URL']}")
            self.stdout.flush()
            child = subprocess.Popen(command, env=env,  # noqa: S603
                                     preexec_fn=die_with_parent)  # noqa: PLW1509
            returncode = child.wait()
        except Stopped as stop:
            if child is not None:
                with suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGTERM)
                child.wait()
            raise CommandError(f"Stopped ({stop}).") from None
        finally:
            for server in reversed(started):
                server.stop()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        if returncode:
            raise CommandError(f"{' '.join(command)} failed (exit status {returncode}).",
                               returncode=returncode)

    def _database(self, pgdata: str, local: str, started: list) -> tuple[str, str]:
        if os.environ.get("DATABASE_URL"):
            return os.environ["DATABASE_URL"], "PostgreSQL from DATABASE_URL"
        host, port = local.rsplit(":", 1)
        if embedded_services.postgres_answers(host, int(port)):
            return f"postgres://postgres@{local}/listing_ai", f"PostgreSQL on {local}"
        server = embedded_services.start_postgres(Path(pgdata), "listing_ai")
        started.append(server)
        return server.url, f"embedded PostgreSQL {server.version} ({pgdata})"

    def _redis(self, port: int, local: str, started: list) -> dict[str, str]:
        if os.environ.get("REDIS_URL"):
            return {}
        base = local.rstrip("/")
        if not embedded_services.redis_answers(base):
            if embedded_services.port_in_use(port):
                raise CommandError(f"Port {port} (embedded Redis) is in use; choose another "
                                   f"with --redis-port.")
            server = embedded_services.start_redis(settings.VAR_DIR, port)
            started.append(server)
            base = server.url.rsplit("/", 1)[0]
        return {"REDIS_URL": f"{base}/{BROKER_DB}",
                "CACHE_URL": os.environ.get("CACHE_URL", f"{base}/{CACHE_DB}")}
