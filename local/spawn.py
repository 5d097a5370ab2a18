"""Starts the local stack (`python -m local.stack`, what `make run` runs) in a child process on a free
port and waits for its READY line: for the end-to-end tests, the fuzz tests and `make fuzz`."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
READY = re.compile(r"READY base_url=(\S+) api_key=(\S+)(?: read_key=(\S+) write_key=(\S+))?")


class StackNotReady(RuntimeError):
    """The stack exited or did not print READY in time; the message ends with its last lines."""


@dataclass(frozen=True)
class RunningStack:
    base_url: str
    admin_key: str
    read_key: str | None
    write_key: str | None
    output: str  # everything it printed up to READY
    process: subprocess.Popen
    later: deque[str] = field(default_factory=lambda: deque(maxlen=5000))  # what it printed since (drain=True)


@contextlib.contextmanager
def running_stack(users: int = 80, items: int = 120, events_per_user: int = 15, timeout_s: float = 180,
                  drain: bool = False) -> Iterator[RunningStack]:
    """The stack with a small demo tenant (the sizes tests/e2e uses); Ctrl-C'd (SIGINT) on exit.

    With `drain`, a thread keeps reading what it prints after READY (one line per request) into
    `later`, so that a long run never fills the pipe and blocks it; without, the caller may read
    `process.stdout` itself."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}  # never a real account
    env["PYTHONPATH"] = f"{ROOT / 'layers' / 'engine'}{os.pathsep}{ROOT}"
    proc = subprocess.Popen([sys.executable, "-m", "local.stack", "--port", "0", "--users", str(users),
                             "--items", str(items), "--events-per-user", str(events_per_user)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, ready = [], None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        ready = READY.search(line)
        if ready:
            break
    if not ready:
        proc.kill()
        proc.wait(timeout=30)
        raise StackNotReady("local stack did not become ready:\n" + "".join(lines[-40:]))
    stack = RunningStack(ready.group(1), ready.group(2), ready.group(3), ready.group(4), "".join(lines), proc)
    if drain:
        threading.Thread(target=stack.later.extend, args=(proc.stdout,), name="stack-output", daemon=True).start()
    try:
        yield stack
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
