"""`manage.py run_model_sandbox --port 8091`: the OpenAI-compatible model sandbox for the demo."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand

from sandbox.model_api import start_sandbox


class Command(BaseCommand):
    help = "Serve the model sandbox (OpenAI chat-completions protocol, as DeepSeek speaks it)."
    requires_system_checks: list[str] = []  # it uses no model, URL or template

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8091, help="0 picks a free port.")

    def handle(self, *args, host: str, port: int, **options):
        running = start_sandbox(host, port)
        out = self.stdout.write
        out(f"Model sandbox at {running.base_url}  (any non-empty API key)")
        out(f"  models            {', '.join(running.state.models)}")
        out(f"  behaviour         POST {running.url}/__sandbox__/models/<model>/behaviour")
        out(f"  requests          GET  {running.url}/__sandbox__/requests")
        self.stdout.flush()
        try:
            while running.thread.is_alive():
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        finally:
            running.stop()
