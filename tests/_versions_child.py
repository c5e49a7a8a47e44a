"""One process of tests/test_versions_processes.py: opens the shared store, builds one
version of a payment graph and does one thing, printing the outcome as JSON.

    python -m tests._versions_child SPEC VARIANT EFFECTS pause|resume VALUE|continue|crash VALUE
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any, TypedDict

from interlock import START, Command, StateGraph, VersionChanged, interrupt, tool
from interlock.errors import ResumeConflict, ThreadBusy
from tests._race import open_saver


class PayState(TypedDict, total=False):
    amount: int
    paid: str


class TotalState(TypedDict, total=False):
    total: int
    paid: str


@tool
def pay_v1(amount: int) -> str:
    """Pay an amount.

    Args:
        amount: in cents
    """
    return "paid"


@tool
def pay_doc(amount: int) -> str:
    """Pay an amount of money to the supplier, reworded.

    Args:
        amount: how much, in cents
    """
    return "paid"


@tool
def pay_v2(amount: int, iban: str) -> str:
    """Pay an amount.

    Args:
        amount: in cents
        iban: the account
    """
    return "paid"


for _t in (pay_v1, pay_doc, pay_v2):
    _t.name = "pay"

V1_NODE, V1_SCHEMA, V1_TOOL = "pay", PayState, pay_v1
# variant -> (node name, state schema, tool, extra node, migration)
VARIANTS: dict[str, tuple[str, Any, Any, str | None, str | None]] = {
    "v1": ("pay", PayState, pay_v1, None, None),
    "renamed": ("charge", PayState, pay_v1, None, None),
    "removed_key": ("pay", TotalState, pay_v1, None, None),
    "new_arg": ("pay", PayState, pay_v2, None, None),
    "migrate_renamed": ("charge", PayState, pay_v1, None, "rename"),
    "migrate_key": ("pay", TotalState, pay_v1, None, "key"),
    "migrate_arg": ("pay", PayState, pay_v2, None, "arg"),
    "new_node": ("pay", PayState, pay_v1, "audit", None),
    "doc_edit": ("pay", PayState, pay_doc, None, None),
}


def build(saver: Any, variant: str, effects: str) -> Any:
    node, schema, pay_tool, extra, migration = VARIANTS[variant]

    def pay(state: dict[str, Any]) -> dict[str, Any]:
        amount = state.get("amount", state.get("total"))
        answer = interrupt({"pay": amount, "iban": state.get("iban_hint")})
        if answer == "crash":  # the decision is recorded; the process dies before applying it
            os._exit(3)
        with open(effects, "a") as f:
            f.write(f"{variant} {answer} {amount}\n")
        return {"paid": f"{answer}:{amount}"}

    g = StateGraph(schema)
    g.add_node(node, pay)
    g.add_edge(START, node)
    if extra:
        g.add_node(extra, lambda s: {})
    v1 = build_v1_version(saver)
    if migration == "rename":
        g.migrate(from_version=v1, nodes={"pay": "charge"})(lambda values: values)
    elif migration == "key":
        g.migrate(from_version=v1)(
            lambda values: {"total": values["amount"] * 100, "paid": values.get("paid", "")}
        )
    elif migration == "arg":
        g.migrate(from_version=v1)(lambda values: dict(values))
    policy = "migrate" if migration else None
    return g.compile(checkpointer=saver, tools=[pay_tool], on_version_change=policy)


def build_v1_version(saver: Any) -> str:
    g = StateGraph(V1_SCHEMA)
    g.add_node(V1_NODE, lambda s: {})
    g.add_edge(START, V1_NODE)
    return str(g.compile(tools=[V1_TOOL]).version)


def main(argv: list[str]) -> int:
    spec, variant, effects, op = argv[:4]
    arg = argv[4] if len(argv) > 4 else None
    saver = open_saver(spec)
    graph = build(saver, variant, effects)
    if op == "crash":
        graph.lease_ttl = 0.5  # the dead process's lease lapses soon: the run can be taken over
    config = {"configurable": {"thread_id": "t"}}
    try:
        if op == "pause":
            [pending] = graph.invoke({"amount": 7}, config)["__interrupt__"]
            out: dict[str, Any] = {"id": pending.id, "version": graph.version}
        elif op == "resume" or op == "crash":
            result = graph.invoke(Command(resume=arg), config)
            asked = result.pop("__interrupt__", None)  # asked again (the question changed)
            out = {"asked": [i.value for i in asked]} if asked else {"ok": result}
        elif op == "continue":  # a worker taking the run over, as soon as the lease lapses
            deadline = time.monotonic() + 60
            while True:
                try:
                    out = {"ok": graph.invoke(None, config)}
                    break
                except ThreadBusy:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        else:
            raise ValueError(op)
    except VersionChanged as exc:
        out = {"refused": str(exc), "changes": list(exc.changes)}
    except ResumeConflict as exc:
        out = {"conflict": str(exc)}
    finally:
        saver.close()
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
