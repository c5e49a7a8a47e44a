"""`interlock demo`, driven through a pseudo-terminal like a person would."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pexpect
import pytest

pytestmark = pytest.mark.slow


def spawn(tmp_path: Path, *args: str) -> pexpect.spawn:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["HOME"] = str(tmp_path)
    return pexpect.spawn(
        sys.executable,
        ["-m", "interlock.cli", "demo", "--db", f"sqlite:///{tmp_path / 'demo.db'}", *args],
        env=env,
        encoding="utf-8",
        timeout=60,
    )


def test_demo_approve(tmp_path: Path) -> None:
    child = spawn(tmp_path)
    child.expect("Approval needed")
    child.expect('Confirm deletion of course "Outdated Java Tutorial"')
    child.expect(r"\[a\]pprove / \[r\]eject / \[e\]dit: ")
    child.sendline("a")
    child.expect('Final response: Done. Course "Outdated Java Tutorial" has been deleted.')
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_demo_reject_with_reason(tmp_path: Path) -> None:
    child = spawn(tmp_path)
    child.expect(r"\[e\]dit: ")
    child.sendline("r")
    child.expect("Reason: ")
    child.sendline("still has students")
    child.expect("Final response: .*rejected.*still has students")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_demo_edit_arguments(tmp_path: Path) -> None:
    child = spawn(tmp_path)
    child.expect(r"\[e\]dit: ")
    child.sendline("e")
    child.expect(r"course_name \[Outdated Java Tutorial\]: ")
    child.sendline("Python Basics")
    child.expect('Final response: Done. Course "Python Basics" has been deleted.')
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_ctrl_c_leaves_the_thread_paused_and_a_new_process_resumes_it(tmp_path: Path) -> None:
    child = spawn(tmp_path)
    child.expect(r"thread: (admin-[0-9a-f]+)")
    thread = child.match.group(1)
    child.expect(r"\[e\]dit: ")
    child.sendintr()
    child.expect(f"interlock demo --thread {thread}")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130

    again = spawn(tmp_path, "--thread", thread)
    again.expect('Confirm deletion of course "Outdated Java Tutorial"')
    again.expect(r"\[e\]dit: ")
    again.sendline("a")
    again.expect("Final response: Done.")
    again.expect(pexpect.EOF)
    again.close()
    assert again.exitstatus == 0

    done = spawn(tmp_path, "--thread", thread)
    done.expect("not waiting for a decision")
    done.expect(pexpect.EOF)
    done.close()
    assert done.exitstatus == 1
