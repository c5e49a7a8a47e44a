"""`threads.copy` and `runs.delete` keep interlock's exactly-once guarantees, driven by the
real `langgraph-sdk` over loopback on SQLite and PostgreSQL.

LangGraph copies a thread's checkpoints and writes as they are, pending interrupts
included, so a copied interrupt is answered in each thread. interlock's copy asks a pending
request again as a new request of the copy (checked in `test_agent_server_routes_bulk`);
these tests pin what must not happen twice: a side effect memoised with `once()` before the
pause does not run again in the copy, and a decision recorded but not carried out yet is
neither copied (the copy would carry it out a second time, undecided) nor left without the
run that tried it (deleting that run would have the sweep carry it out again).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict

import pytest
from langgraph_sdk import get_sync_client
from langgraph_sdk.errors import ConflictError

import interlock as il
from interlock.checkpoint.sqlite import SqliteSaver
from interlock.server import ApiKeys, create_app
from interlock.server._operations import run_config
from tests._http import served

KEYS = "k-bob=bob:requester;k-ada=ada:approver"
TICKETS: list[str] = []
SENT: list[str] = []


class Mail(TypedDict, total=False):
    to: str
    ticket: str
    approved: Any


def open_ticket(to: str) -> str:
    TICKETS.append(to)
    return f"T-{len(TICKETS)}"


def review(state: Mail) -> dict[str, Any]:
    ticket = il.once(open_ticket, state["to"])  # a side effect before the question
    answer = il.interrupt({"send_to": state["to"], "ticket": ticket}, approvers=["ada"])
    SENT.append(state["to"])
    return {"ticket": ticket, "approved": answer}


@pytest.fixture(params=["sqlite", "postgres"])
def served_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """The app (no workers: no sweep carries a decision out behind the test's back) and
    its store."""
    TICKETS.clear()
    SENT.clear()
    if request.param == "sqlite":
        saver: Any = SqliteSaver(tmp_path / "as.db")
    else:
        from tests.pg import fresh_postgres_saver

        saver = fresh_postgres_saver()
    app = create_app({"mail": _graph_of(saver)}, keys=ApiKeys.parse(KEYS), workers=0)
    try:
        with served(app) as http:
            yield str(http.base_url).rstrip("/"), saver
    finally:
        saver.close()


def test_a_memoised_side_effect_runs_once_in_source_and_copy(
    served_store: tuple[str, Any],
) -> None:
    url, _ = served_store
    with (
        get_sync_client(url=url, api_key="k-bob") as bob,
        get_sync_client(url=url, api_key="k-ada") as ada,
    ):
        thread = bob.threads.create()["thread_id"]
        paused = bob.runs.wait(thread, "mail", input={"to": "carl"})
        assert paused["__interrupt__"][0]["value"] == {"send_to": "carl", "ticket": "T-1"}
        copy = bob.threads.copy(thread)["thread_id"]
        [asked] = bob.threads.get_state(copy)["interrupts"]
        assert asked["value"] == {"send_to": "carl", "ticket": "T-1"}
        done = ada.runs.wait(copy, "mail", command={"resume": "ok"})
        assert (done["ticket"], done["approved"]) == ("T-1", "ok")
        assert TICKETS == ["carl"] and SENT == ["carl"]  # the ticket was not opened again
        assert ada.runs.wait(thread, "mail", command={"resume": "ok"})["ticket"] == "T-1"
        assert TICKETS == ["carl"] and SENT == ["carl", "carl"]


def test_a_decision_not_carried_out_is_neither_copied_nor_forgotten(
    served_store: tuple[str, Any],
) -> None:
    url, saver = served_store
    with get_sync_client(url=url, api_key="k-bob") as bob:
        thread = bob.threads.create()["thread_id"]
        bob.runs.wait(thread, "mail", input={"to": "dora"})
        [run] = bob.runs.list(thread)
        [request] = bob.threads.get_state(thread)["interrupts"]
        # a library process records the decision and dies before carrying it out
        saver.resolve_interrupts(thread, {request["id"]: "yes"}, decided_by="ada")
        with pytest.raises(ConflictError):
            bob.threads.copy(thread)
        with pytest.raises(ConflictError):
            bob.runs.delete(thread, run["run_id"])
        assert bob.runs.get(thread, run["run_id"])["run_id"] == run["run_id"]
        assert SENT == []
        # the recorded decision is carried out (`invoke(None)`, as the sweep's run does)
        _graph_of(saver).invoke(None, run_config(thread))
        assert SENT == ["dora"]
        copy = bob.threads.copy(thread)
        assert copy["status"] == "idle" and copy["values"]["approved"] == "yes"
        assert bob.threads.get_state(copy["thread_id"])["interrupts"] == []
        bob.runs.delete(thread, run["run_id"])
        assert SENT == ["dora"]


def _graph_of(saver: Any) -> Any:
    g = il.StateGraph(Mail)
    g.add_node("review", review)
    g.add_edge(il.START, "review")
    return g.compile(checkpointer=saver, name="mail")
