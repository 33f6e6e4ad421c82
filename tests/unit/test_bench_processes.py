"""``bench/processes.py`` stops the child processes of the benchmarks and the integration tests."""

from __future__ import annotations

import signal
import subprocess
import sys

from bench.processes import stop

WAITS_FOR_SIGTERM = "import time; print('up', flush=True); time.sleep(60)"
IGNORES_SIGTERM = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); " + WAITS_FOR_SIGTERM


def child(code: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert process.stdout is not None and process.stdout.readline() == b"up\n"  # its SIGTERM handling is set
    return process


def test_sigterm_first_sigkill_for_one_that_ignores_it_and_every_stdout_closed() -> None:
    polite, stubborn, ended = child(WAITS_FOR_SIGTERM), child(IGNORES_SIGTERM), child("print('up')")
    ended.wait()
    stop([polite, stubborn, ended], patience=1)
    assert [p.returncode for p in (polite, stubborn, ended)] == [-signal.SIGTERM, -signal.SIGKILL, 0]
    assert all(p.stdout is not None and p.stdout.closed for p in (polite, stubborn, ended))
