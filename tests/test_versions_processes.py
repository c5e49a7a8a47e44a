"""Paused under v1 in one process, resumed by v2 in another, on SQLite and PostgreSQL: each
breaking change is refused with its exact message and the request stays answerable; with a
migration it resumes once; compatible changes resume; a decision recorded under v1 whose
process died is not applied by a v2 process taking the run over."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests._race import open_saver

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["sqlite", "postgres"])
def spec(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:{tmp_path / 'shared.db'}"
    from tests.pg import DSN, new_schema

    return f"postgres:{DSN}|{new_schema()}"


def child(spec: str, effects: Path, variant: str, op: str, arg: str | None = None) -> Any:
    argv = [sys.executable, "-m", "tests._versions_child", spec, variant, str(effects), op]
    done = subprocess.run(
        [*argv, *([arg] if arg else [])], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    if op == "crash":
        assert done.returncode == 3, done.stderr
        return None
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


REFUSALS = [
    ("renamed", "node `pay` was removed (and `charge` added)"),
    ("removed_key", "state key `amount` was removed (and `total` added)"),
    ("new_arg", "tool `pay` argument `iban` is now required"),
]


@pytest.mark.parametrize(("variant", "change"), REFUSALS)
def test_a_breaking_change_is_refused_and_the_request_stays_answerable(
    spec: str, tmp_path: Path, variant: str, change: str
) -> None:
    effects = tmp_path / "effects.log"
    paused = child(spec, effects, "v1", "pause")
    refused = child(spec, effects, variant, "resume", "yes")
    assert refused["changes"] == [change]
    assert change in refused["refused"] and paused["version"] in refused["refused"]
    saver = open_saver(spec)
    try:
        assert saver.get_interrupt(paused["id"]).status == "pending"
    finally:
        saver.close()
    assert not effects.exists()  # nothing ran under v2
    done = child(spec, effects, "v1", "resume", "yes")  # rolled back: answered
    assert done["ok"]["paid"] == "yes:7"
    assert effects.read_text().splitlines() == ["v1 yes 7"]


@pytest.mark.parametrize(
    ("variant", "paid", "line"),
    [
        ("migrate_renamed", "yes:7", "migrate_renamed yes 7"),
        ("migrate_key", "yes:700", "migrate_key yes 700"),
        ("migrate_arg", "yes:7", "migrate_arg yes 7"),
    ],
)
def test_a_registered_migration_resumes_once(
    spec: str, tmp_path: Path, variant: str, paid: str, line: str
) -> None:
    effects = tmp_path / "effects.log"
    child(spec, effects, "v1", "pause")
    done = child(spec, effects, variant, "resume", "yes")
    if variant == "migrate_key":  # the migrated node asks to pay 700 where "yes" answered 7:
        assert done["asked"] == [{"pay": 700, "iban": None}]  # bound answers: asked anew
        done = child(spec, effects, variant, "resume", "yes")
    assert done["ok"]["paid"] == paid
    again = child(spec, effects, variant, "resume", "again")
    assert "already decided" in again["conflict"]  # nothing is applied twice
    assert effects.read_text().splitlines() == [line]
    saver = open_saver(spec)
    try:
        history = list(saver.list_checkpoints("t"))
        assert [r.source for r in history].count("migrate") == 1
    finally:
        saver.close()


@pytest.mark.parametrize("variant", ["new_node", "doc_edit"])
def test_a_compatible_change_resumes_untouched(spec: str, tmp_path: Path, variant: str) -> None:
    effects = tmp_path / "effects.log"
    child(spec, effects, "v1", "pause")
    done = child(spec, effects, variant, "resume", "yes")
    assert done["ok"]["paid"] == "yes:7"
    assert effects.read_text().splitlines() == [f"{variant} yes 7"]


def test_a_decision_recorded_under_v1_is_not_applied_by_a_v2_worker(
    spec: str, tmp_path: Path
) -> None:
    effects = tmp_path / "effects.log"
    paused = child(spec, effects, "v1", "pause")
    child(spec, effects, "v1", "crash", "crash")  # recorded, then the process died
    saver = open_saver(spec)
    try:
        assert saver.get_interrupt(paused["id"]).status == "resolved"
    finally:
        saver.close()
    taken = child(spec, effects, "renamed", "continue")  # a v2 worker takes the run over
    assert taken["changes"] == ["node `pay` was removed (and `charge` added)"]
    saver = open_saver(spec)
    try:
        record = saver.get_interrupt(paused["id"])
        assert record.status == "pending"
        assert record.metadata["reopened"]["decision"] == "crash"
        assert "node `pay` was removed" in record.metadata["reopened"]["reason"]
    finally:
        saver.close()
    assert not effects.exists()
    done = child(spec, effects, "v1", "resume", "yes")
    assert done["ok"]["paid"] == "yes:7"
    assert effects.read_text().splitlines() == ["v1 yes 7"]
