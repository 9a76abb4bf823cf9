"""`make run`: the whole product on one machine, with demo data, and no servers to install.

This process only supervises: it starts the embedded PostgreSQL and Redis (unless DATABASE_URL
/ REDIS_URL name real ones), the two sandboxes, then migrates and loads the demo data in child
processes, and runs the web server, a Celery worker and the django-q cluster. However it is
told to stop (Ctrl-C, SIGTERM from a process manager, SIGHUP when its terminal closes) it stops
every child it started, and the embedded servers last.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path
from typing import IO

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from kernel.processes import Stopped, die_with_parent, stop_on_signals
from portal import embedded_services
from portal.demo_data import DEMO_PASSWORD, DemoAccount

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def sandbox_env(port: int) -> dict[str, str]:
    """Gateway URLs and app credentials that point every process at the marketplace sandbox."""
    from sandbox import shops
    from sandbox.marketplace import ALIEXPRESS_PATH, TEMU_PATH

    base = f"http://127.0.0.1:{port}"
    return {"TEMU_GATEWAY_URL": base + TEMU_PATH, "ALIEXPRESS_GATEWAY_URL": base + ALIEXPRESS_PATH,
            "TEMU_APP_KEY": shops.TEMU_APP_KEY, "TEMU_APP_SECRET": shops.TEMU_APP_SECRET,
            "ALIEXPRESS_APP_KEY": shops.ALIEXPRESS_APP_KEY,
            "ALIEXPRESS_APP_SECRET": shops.ALIEXPRESS_APP_SECRET}


class Children:
    """The processes this command started, stopped together (each with its own children)."""

    def __init__(self) -> None:
        self.running: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, command: list[str], env: dict, **kwargs) -> subprocess.Popen:
        child = subprocess.Popen(command, env=env, preexec_fn=die_with_parent,  # noqa: S603, PLW1509
                                 **kwargs)
        self.running.append((name, child))
        return child

    def first_ended(self) -> str | None:
        return next((name for name, child in self.running if child.poll() is not None), None)

    def stop(self, seconds: float = 15) -> None:
        # The main process only: django-q's cluster waits forever for workers that a signal
        # to its whole group has already killed.
        for _name, child in reversed(self.running):
            child.terminate()
        deadline = time.monotonic() + seconds
        for _name, child in self.running:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(child, signal.SIGKILL)
                child.wait()
            _signal_group(child, signal.SIGKILL)  # what the child left behind in its group
        self.running.clear()


def _signal_group(child: subprocess.Popen, signum: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signum)


def single_instance(lock_path: Path) -> IO:
    """Hold var/run_demo.lock for as long as this process lives (the kernel lets go of it
    whenever the process ends, even by SIGKILL)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    handle = lock_path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        raise CommandError(
            f"The demo is already running ({holder}). Use it, or stop it first (Ctrl-C in its "
            f"terminal, or kill the process).") from None
    handle.seek(0)
    handle.truncate()
    return handle


def wait_until_listening(port: int, child: subprocess.Popen, name: str,
                         seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and child.poll() is None:
        if embedded_services.port_in_use(port):
            return
        time.sleep(0.2)
    raise CommandError(f"The {name} did not start on port {port}.")


class Command(BaseCommand):
    help = "Migrate, load demo data, then run the web server, a Celery worker and django-q."
    requires_system_checks = []  # the children check; this process touches no database

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000",
                            help="Address of the web server (e-mailed links use it too).")
        parser.add_argument("--redis-port", type=int, default=6399,
                            help="Port of the embedded Redis when REDIS_URL is not set.")
        parser.add_argument("--sandbox-port", type=int, default=8090,
                            help="Port of the marketplace sandbox when TEMU_GATEWAY_URL and "
                                 "ALIEXPRESS_GATEWAY_URL are not set.")
        parser.add_argument("--model-sandbox-port", type=int, default=8091,
                            help="Port of the model sandbox (OpenAI protocol) that the demo's "
                                 "model nodes call.")

    def handle(self, *args, addr: str, redis_port: int, sandbox_port: int,
               model_sandbox_port: int, **options):
        lock = single_instance(settings.VAR_DIR / "run_demo.lock")
        lock.write(f"pid {os.getpid()}, http://{addr}/")
        lock.flush()
        use_sandbox = not {"TEMU_GATEWAY_URL", "ALIEXPRESS_GATEWAY_URL"} & set(os.environ)
        self._check_ports(addr, redis_port if "REDIS_URL" not in os.environ else None,
                          sandbox_port if use_sandbox else None, model_sandbox_port)
        previous = stop_on_signals(STOP_SIGNALS)
        children, servers = Children(), []
        try:
            env = self._environment(addr, servers, redis_port)
            self._run(env, children, addr=addr, sandbox_port=sandbox_port if use_sandbox else None,
                      model_sandbox_port=model_sandbox_port)
        except Stopped as stop:
            self.stdout.write(f"\nStopping ({stop})…")
        finally:
            for signum in STOP_SIGNALS:  # a second Ctrl-C must not cut the stop short
                signal.signal(signum, signal.SIG_IGN)
            children.stop()
            for server in reversed(servers):
                server.stop()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            lock.close()

    def _check_ports(self, addr: str, *ports: int | None) -> None:
        web_port = int(addr.rsplit(":", 1)[1])
        flags = {web_port: "--addr", ports[0]: "--redis-port", ports[1]: "--sandbox-port",
                 ports[2]: "--model-sandbox-port"}
        for port, flag in flags.items():
            if port and embedded_services.port_in_use(port):
                raise CommandError(f"Port {port} is in use by another program. Stop it, or "
                                   f"choose another port with {flag}.")

    def _environment(self, addr: str, servers: list, redis_port: int) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("SITE_URL", f"http://{addr}")
        if "DATABASE_URL" in os.environ:
            self.database = "PostgreSQL from DATABASE_URL"
        else:
            postgres = embedded_services.start_postgres(settings.EMBEDDED_POSTGRES_DIR,
                                                        "listing_ai")
            servers.append(postgres)
            env["DATABASE_URL"] = postgres.url
            self.database = (f"embedded PostgreSQL {postgres.version} "
                             f"({settings.EMBEDDED_POSTGRES_DIR})")
        if "REDIS_URL" in os.environ:
            self.redis = os.environ["REDIS_URL"]
        else:
            redis = embedded_services.start_redis(settings.VAR_DIR, redis_port)
            servers.append(redis)
            env["REDIS_URL"] = redis.url
            env.pop("CACHE_URL", None)
            self.redis = f"embedded Redis ({redis.url})"
        return env

    def _run(self, env: dict, children: Children, *, addr: str, sandbox_port: int | None,
             model_sandbox_port: int) -> None:
        manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
        model_sandbox = children.start("model sandbox", [*manage, "run_model_sandbox", "--port",
                                                         str(model_sandbox_port)], env)
        sandbox_url = ""
        if sandbox_port:
            # No real gateways configured: the marketplaces are our sandbox.
            sandbox = children.start("marketplace sandbox",
                                     [*manage, "run_marketplace_sandbox", "--port",
                                      str(sandbox_port), "--state-file",
                                      str(settings.VAR_DIR / "marketplace-sandbox.json")], env)
            wait_until_listening(sandbox_port, sandbox, "marketplace sandbox")
            env.update(sandbox_env(sandbox_port))
            sandbox_url = f"http://127.0.0.1:{sandbox_port}/"
        wait_until_listening(model_sandbox_port, model_sandbox, "model sandbox")

        demo = [*manage, "load_demo_data", "--migrate", "--json"]
        if sandbox_url:
            demo += ["--model-api-url", f"http://127.0.0.1:{model_sandbox_port}/v1",
                     "--marketplace-url", sandbox_url]
        prepared = _run(demo, env).splitlines()[-1]
        accounts = [DemoAccount(**fields) for fields in json.loads(prepared)]

        celery = [sys.executable, "-m", "celery", "-A", "config", "worker",
                  "--loglevel", "INFO", "--pool", "threads", "--concurrency", "8"]
        web = children.start("web server", [*manage, "runserver", addr, "--noreload"], env)
        children.start("Celery worker", celery, env, cwd=settings.BASE_DIR)
        children.start("django-q cluster", [*manage, "qcluster"], env)
        wait_until_listening(int(addr.rsplit(":", 1)[1]), web, "web server")
        self._print_welcome(addr, accounts, sandbox_url)
        while (ended := children.first_ended()) is None:
            time.sleep(1)
        raise CommandError(f"The {ended} stopped unexpectedly (see its output above); "
                           f"stopping the demo.")

    def _print_welcome(self, addr: str, accounts: list[DemoAccount], sandbox_url: str) -> None:
        out = self.stdout.write
        out("")
        out(self.style.SUCCESS(f"Listing AI is running at http://{addr}/"))
        out(f"Database: {self.database}  ·  Redis: {self.redis}")
        out("Models: the model sandbox (OpenAI protocol) behind the demo's model nodes.")
        if sandbox_url:
            out(f"Marketplaces: the sandbox at {sandbox_url} (Temu and AliExpress, demo shops)."
                f" Authorization codes: {sandbox_url}seller-center/")
        out("")
        out(f"Sign in with any of these (password: {DEMO_PASSWORD}):")
        for account in accounts:
            out(f"  {account.email:38} {account.description}")
            if account.totp_secret:
                out(f"  {'':38} TOTP secret {account.totp_secret} (add it to an authenticator "
                    f"app, or run: .venv/bin/python manage.py totp_code {account.email})")
        out("")
        out("E-mails (invitations, password resets) are printed here. Press Ctrl-C to stop.")
        out("")


def _run(command: list[str], env: dict) -> str:
    """Run a preparation step to its end (stopped with the rest on a stop signal)."""
    result = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True,  # noqa: S603
                            check=False, preexec_fn=die_with_parent)  # noqa: PLW1509
    if result.returncode:
        raise CommandError(f"{command[2]} failed (exit status {result.returncode}); see its "
                           f"output above.")
    return result.stdout
