"""Versions of an agent: its tools' argument schemas are part of its version, so a review
paused under one tool is refused by an agent whose tool now needs another argument, while
a reworded docstring with a new optional argument resumes, and an edit is checked against
the schema the question was asked with before the new tool runs it."""

from __future__ import annotations

from typing import Any

import pytest

from interlock import AIMessage, Command, VersionChanged, create_agent, tool
from interlock.agent.models.scripted import ScriptedChatModel
from interlock.errors import InvalidResumeValue

CFG = {"configurable": {"thread_id": "a"}}
PAID: list[dict[str, Any]] = []


def _call(args: dict[str, Any]) -> dict[str, Any]:
    return {"name": "pay", "args": args, "id": "p1", "type": "tool_call"}


def _agent(saver: Any, pay_tool: Any) -> Any:
    model = ScriptedChatModel(
        [
            AIMessage(content="", tool_calls=[_call({"amount": 5})]),
            lambda messages: AIMessage(content=str(messages[-1].content)),
        ]
    )
    return create_agent(model, [pay_tool], checkpointer=saver, interrupt_on={"pay": True})


@tool("pay")
def pay_v1(amount: int) -> str:
    """Pay.

    Args:
        amount: in cents
    """
    PAID.append({"amount": amount})
    return f"paid {amount}"


@tool("pay")
def pay_optional(amount: int, memo: str = "") -> str:
    """Pay an amount (reworded), with an optional memo.

    Args:
        amount: how much, in cents
        memo: a note for the supplier
    """
    PAID.append({"amount": amount, "memo": memo})
    return f"paid {amount} {memo}".strip()


@tool("pay")
def pay_iban(amount: int, iban: str) -> str:
    """Pay.

    Args:
        amount: in cents
        iban: the account
    """
    PAID.append({"amount": amount, "iban": iban})
    return f"paid {amount} to {iban}"


@pytest.fixture(autouse=True)
def _clear() -> None:
    PAID.clear()


def _pause(saver: Any) -> Any:
    v1 = _agent(saver, pay_v1)
    out = v1.invoke({"messages": [{"role": "user", "content": "pay"}]}, CFG)
    assert out["__interrupt__"]
    return v1


def test_a_new_required_argument_refuses_the_review(saver: Any) -> None:
    v1 = _pause(saver)
    v2 = _agent(saver, pay_iban)
    assert v2.manifest["tools"]["pay"]["required"] == ["amount", "iban"]
    with pytest.raises(VersionChanged, match="tool `pay` argument `iban` is now required"):
        v2.invoke(Command(resume={"decisions": [{"type": "approve"}]}), CFG)
    assert PAID == []
    v1.invoke(Command(resume={"decisions": [{"type": "approve"}]}), CFG)
    assert PAID == [{"amount": 5}]


def test_an_optional_argument_resumes_and_an_edit_is_checked_against_the_question(
    saver: Any,
) -> None:
    _pause(saver)
    v2 = _agent(saver, pay_optional)
    (request,) = saver.list_interrupts(status="pending", thread_id="a").items
    bad = {"type": "edit", "edited_action": {"name": "pay", "args": {"amount": "lots"}}}
    with pytest.raises(InvalidResumeValue, match="expected integer"):
        v2.invoke(Command(resume={"decisions": [bad]}), CFG)
    assert saver.get_interrupt(request.interrupt_id).status == "pending" and PAID == []
    good = {"type": "edit", "edited_action": {"name": "pay", "args": {"amount": 6}}}
    out = v2.invoke(Command(resume={"decisions": [good]}), CFG)
    assert PAID == [{"amount": 6, "memo": ""}]  # the new tool ran the checked edit
    results = [m.content for m in out["messages"] if getattr(m, "tool_call_id", None) == "p1"]
    assert results[-1].startswith("paid 6\n") and "edited" in results[-1]
