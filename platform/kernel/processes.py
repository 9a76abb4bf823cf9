"""Child processes that must not outlive whoever started them (the demo's servers, the
benchmark's workers)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """For `subprocess.Popen(preexec_fn=...)`: the child gets a process group of its own (a
    terminal's Ctrl-C reaches only the parent, which stops its children in order), and
    SIGTERM when the parent dies, even by SIGKILL (Linux's PR_SET_PDEATHSIG; elsewhere only
    the parent's own clean-up applies)."""
    os.setsid()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Stopped(Exception):  # noqa: N818  (the way a stop signal ends a long wait, not an error)
    pass


def stop_on_signals(signals=(signal.SIGTERM, signal.SIGHUP)) -> dict:
    """Turn these signals into `Stopped` in the main thread, so `finally` blocks clean up as
    they do on Ctrl-C. Returns the previous handlers (for `signal.signal` to restore)."""
    def raise_stopped(signum, frame):
        raise Stopped(signal.Signals(signum).name)

    return {signum: signal.signal(signum, raise_stopped) for signum in signals}
