"""The zero-setup demo as people run it: `run_demo` on its embedded PostgreSQL and Redis, in
a data directory of its own, used at once by jobs, a sync, review and publishing, stopped by a
process manager's signals, and started again on the same data."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from portal import embedded_services
from portal.management.commands.run_demo import Command as RunDemo

ROOT = Path(__file__).resolve().parents[2]
MANAGE = [sys.executable, str(ROOT / "manage.py")]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def demo_environment(var_dir: Path) -> dict[str, str]:
    """A fresh machine's environment: no database, Redis or gateways configured."""
    env = {name: value for name, value in os.environ.items()
           if name not in ("DATABASE_URL", "REDIS_URL", "CACHE_URL", "TEMU_GATEWAY_URL",
                           "ALIEXPRESS_GATEWAY_URL", "SITE_URL")}
    env.update(DEBUG="1", VAR_DIR=str(var_dir), DJANGO_SETTINGS_MODULE="config.settings",
               DATABASE_CONN_MAX_AGE="0",
               # The demo's lifecycle is tested here, images in tests/images: 300 products'
               # inspection would hold the test's worker for minutes.
               IMAGES_INSPECT_AFTER_SYNC="0")
    return env


class Demo:
    def __init__(self, var_dir: Path, log: Path) -> None:
        self.ports = {"web": free_port(), "redis": free_port(), "sandbox": free_port(),
                      "model": free_port()}
        self.env = demo_environment(var_dir)
        self.addr = f"127.0.0.1:{self.ports['web']}"
        self.log = log
        self.process: subprocess.Popen | None = None

    def arguments(self) -> list[str]:
        return [*MANAGE, "run_demo", "--addr", self.addr,
                "--redis-port", str(self.ports["redis"]),
                "--sandbox-port", str(self.ports["sandbox"]),
                "--model-sandbox-port", str(self.ports["model"])]

    def start(self) -> None:
        self.process = subprocess.Popen(self.arguments(), env=self.env, cwd=ROOT,
                                        stdout=self.log.open("w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while "is running at" not in self.log.read_text(errors="replace"):
            assert self.process.poll() is None, self.log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "the demo did not start in 3 minutes"
            time.sleep(0.5)

    def descendants(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children(recursive=True)

    def stop(self, signum: int) -> list[str]:
        """Signal the demo as a process manager would; what is left running afterwards."""
        children = self.descendants()
        self.process.send_signal(signum)
        self.process.wait(timeout=60)
        psutil.wait_procs(children, timeout=10)
        left = [f"{child.pid} {' '.join(child.cmdline()[:4])}" for child in children
                if child.is_running() and child.status() != psutil.STATUS_ZOMBIE]
        left += [f"port {port}" for port in self.ports.values()
                 if embedded_services.port_in_use(port)]
        return left

    def exercise(self, **options: int) -> dict:
        arguments = [*MANAGE, "exercise_demo", "--url", f"http://{self.addr}"]
        for name, value in options.items():
            arguments += [f"--{name}", str(value)]
        done = subprocess.run(arguments, env=self.env, cwd=ROOT, capture_output=True,
                              text=True, timeout=600, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def demo(tmp_path):
    running = Demo(tmp_path / "var", tmp_path / "demo.log")
    yield running
    if running.process is not None and running.process.poll() is None:
        running.stop(signal.SIGKILL)


def test_the_demo_runs_on_embedded_servers_ends_everything_and_stops_clean(demo, tmp_path):
    demo.start()
    output = demo.log.read_text()
    assert "Database: embedded PostgreSQL 18" in output
    pgdata = tmp_path / "var" / "postgres"
    assert (pgdata / "PG_VERSION").read_text().strip() == "18"

    # A second demo on the same data says so instead of colliding on the ports.
    second = subprocess.run(demo.arguments(), env=demo.env, cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=False)
    assert second.returncode != 0 and "already running" in second.stderr

    outcome = demo.exercise(jobs=3, skus=8, timeout=300)
    assert outcome["stuck"] == [] and outcome["sync"] == "succeeded"
    assert outcome["job_status"] and set(outcome["job_status"]) <= {"completed",
                                                                   "completed_with_errors"}
    assert outcome["reviews"].get("published", 0) > 0
    assert set(outcome["reviews"]) <= {"published", "rejected"}

    assert demo.stop(signal.SIGTERM) == []
    assert not (pgdata / "postmaster.pid").exists(), "the embedded PostgreSQL still runs"

    # The second run reuses the data: the store connected in the first run still syncs and
    # publishes (the sandbox kept its token), and the first run's jobs are still there.
    demo.start()
    assert "Database: embedded PostgreSQL 18" in demo.log.read_text()
    again = demo.exercise(jobs=1, skus=4, timeout=300)
    assert again["stuck"] == [] and again["sync"] == "succeeded"
    assert again["reviews"].get("published", 0) > 0
    assert demo.stop(signal.SIGHUP) == []
    assert not (pgdata / "postmaster.pid").exists()


def test_the_demo_refuses_a_port_in_use(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([*MANAGE, "run_demo", "--addr", f"127.0.0.1:{port}"],
                              env=demo_environment(tmp_path / "var"), cwd=ROOT,
                              capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert f"Port {port} is in use" in done.stderr and "--addr" in done.stderr


def test_emailed_links_follow_the_address_the_demo_serves(monkeypatch, settings):
    monkeypatch.setenv("DATABASE_URL", "postgres://unused@127.0.0.1/unused")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.delenv("SITE_URL", raising=False)
    command = RunDemo()
    env = command._environment("127.0.0.1:8123", [], redis_port=0)
    assert env["SITE_URL"] == "http://127.0.0.1:8123"


def test_the_test_command_starts_embedded_servers_when_none_answers(tmp_path):
    """`make test` on a machine without PostgreSQL or Redis: embedded ones, stopped after."""
    pgdata = tmp_path / "pg"
    probe = ("import os, psycopg, redis; "
             "url = os.environ['DATABASE_URL']; "
             "from config.database import database_settings; s = database_settings(url); "
             "psycopg.connect(host=s['HOST'], dbname=s['NAME'], user=s['USER']).close(); "
             "redis.Redis.from_url(os.environ['REDIS_URL']).ping(); print('reached', url)")
    env = demo_environment(tmp_path / "var")
    env["PYTHONPATH"] = str(ROOT / "platform")
    done = subprocess.run(
        [*MANAGE, "with_services", "--pgdata", str(pgdata), "--redis-port", str(free_port()),
         "--local-postgres", "127.0.0.1:1", "--local-redis", "redis://127.0.0.1:1",
         "--", sys.executable, "-c", probe],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Database: embedded PostgreSQL 18" in done.stdout
    assert f"reached postgres://postgres@/listing_ai?host={pgdata}" in done.stdout
    assert not (pgdata / "postmaster.pid").exists()


def test_the_test_command_stopped_by_a_signal_stops_its_command_and_the_servers(tmp_path):
    pgdata = tmp_path / "pg"
    marker = tmp_path / "child.pid"
    env = demo_environment(tmp_path / "var")
    sleeper = (f"import os, time; open({str(marker)!r}, 'w').write(str(os.getpid())); "
               "time.sleep(120)")
    process = subprocess.Popen(
        [*MANAGE, "with_services", "--pgdata", str(pgdata), "--redis-port", str(free_port()),
         "--local-postgres", "127.0.0.1:1", "--local-redis", "redis://127.0.0.1:1",
         "--", sys.executable, "-c", sleeper],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    child = psutil.Process(int(marker.read_text()))

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) != 0
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    assert not (pgdata / "postmaster.pid").exists()
