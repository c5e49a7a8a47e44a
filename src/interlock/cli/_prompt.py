"""Making Ctrl-C at a terminal prompt always work: "Ctrl-C leaves the run paused" is a
promise of `interlock demo` and `interlock chat`.

Two ways it could be lost:

- SIGINT ignored from the start. A process started in the background by a shell without job
  control (`cmd &` in a script, as CI harnesses and tool runners do) begins with SIGINT set
  to "ignore", every process it starts inherits that, and Python then installs no
  KeyboardInterrupt handler at all: Ctrl-C typed at the program's own terminal did nothing.
  (That is why `tests/test_demo.py`'s Ctrl-C test hung until its timeout when the suite was
  started that way: the pty child showed `^C` and kept waiting.) `interactive_interrupts()`
  restores the handler when stdin is a terminal, since the person at it is who presses Ctrl-C.
- A signal between checks. `sys.stdin.readline()` misses a SIGINT that arrives after the
  interpreter last checked for signals but before `read(2)` starts: the handler only sets a
  flag and `read` blocks until Enter. `read_line()` waits with `select()` on stdin and on a
  wake-up pipe (`signal.set_wakeup_fd`) that every signal writes to, so the wait ends and
  KeyboardInterrupt is raised whenever Ctrl-C comes.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import threading

__all__ = ["ask", "interactive_interrupts", "read_line"]

_pending = bytearray()
"""Bytes read past the last line returned (piped input may hold several lines)."""


def interactive_interrupts() -> None:
    """Let Ctrl-C raise KeyboardInterrupt when stdin is a terminal, even if SIGINT was
    inherited as ignored (call from the main thread of an interactive command)."""
    try:
        interactive = os.isatty(sys.stdin.fileno())
    except (AttributeError, OSError, ValueError):
        return
    if (
        interactive
        and threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    ):
        signal.signal(signal.SIGINT, signal.default_int_handler)


def ask(prompt: str) -> str | None:
    """Print `prompt`, then read a line (without its newline); None at end of input."""
    print(prompt, end="", flush=True)
    line = read_line()
    return None if line is None else line.rstrip("\r\n")


def read_line() -> str | None:
    """The next line of stdin (with its newline), or None at end of input; Ctrl-C raises
    KeyboardInterrupt whenever it is pressed."""
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (a test's StringIO)
        return sys.stdin.readline() or None
    if threading.current_thread() is not threading.main_thread():
        return sys.stdin.readline() or None
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    previous = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    try:
        while b"\n" not in _pending:
            ready, _, _ = select.select([fd, wake_r], [], [])
            if wake_r in ready:
                os.read(wake_r, 512)
                continue  # the interpreter runs the handler here (KeyboardInterrupt)
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            _pending.extend(chunk)
    finally:
        signal.set_wakeup_fd(previous)
        os.close(wake_r)
        os.close(wake_w)
    if not _pending:
        return None
    end = _pending.find(b"\n")
    end = len(_pending) if end < 0 else end + 1
    line = bytes(_pending[:end])
    del _pending[:end]
    encoding = getattr(sys.stdin, "encoding", None) or "utf-8"
    return line.decode(encoding, errors="replace")
