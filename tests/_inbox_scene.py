"""A scene for the inbox's browser tests and screenshots: two agents (courses, billing) on
one store, with requests waiting from a requester, each after a short conversation."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any, Literal

from interlock import AIMessage, create_agent, tool
from interlock.agent.models.scripted import ScriptedChatModel

ran: list[Any] = []
lock = threading.Lock()
COURSES = ["Outdated Java Tutorial", "Intro to COBOL (2009)", "Legacy Flash Animation"]


@tool
def delete_course(course_name: str) -> str:
    """Delete a course and its enrolments.

    Args:
        course_name: The course's exact title.
    """
    with lock:
        ran.append(("delete_course", course_name))
    return f'Course "{course_name}" has been deleted'


@tool
def refund(
    order_id: str,
    amount: float,
    currency: Literal["EUR", "USD", "GBP"],
    notify_customer: bool,
    note: str = "",
) -> str:
    """Refund part of an order.

    Args:
        order_id: The order.
        amount: How much to refund.
        currency: The order's currency.
        notify_customer: Email the customer about it.
        note: Shown on the credit note.
    """
    with lock:
        ran.append(("refund", order_id, amount, currency, notify_customer, note))
    return f"refunded {amount} {currency} on {order_id}"


def _calls(name: str, args: dict[str, Any], n: int) -> AIMessage:
    return AIMessage(
        content="I will do that now." if name == "refund" else "",
        tool_calls=[{"name": name, "args": args, "id": f"c{n}"}],
    )


def agents(saver: Any, courses: list[str] = COURSES) -> dict[str, Any]:
    """The two agents: every course named asks once, then billing's refund once."""
    course_model = ScriptedChatModel(
        [_calls("delete_course", {"course_name": c}, i) for i, c in enumerate(courses)]
        + ["Done."] * (len(courses) + 2)
    )
    refund_args = {
        "order_id": "A-1043",
        "amount": 90.0,
        "currency": "EUR",
        "notify_customer": True,
        "note": "Damaged in transit",
    }
    billing_model = ScriptedChatModel([_calls("refund", refund_args, 9), "Refunded.", "Ok."])
    return {
        "courses": create_agent(
            model=course_model,
            tools=[delete_course],
            checkpointer=saver,
            interrupt_on={"delete_course": True},
            system_prompt="You manage the course catalogue.",
            name="courses",
        ),
        "billing": create_agent(
            model=billing_model,
            tools=[refund],
            checkpointer=saver,
            interrupt_on={"refund": {"deadline": timedelta(minutes=40)}},
            name="billing",
        ),
    }


def ask_all(http: Any, key: str, courses: list[str] = COURSES) -> list[str]:
    """Start one thread per course, then the refund; the request ids, in that order."""
    ids = []
    headers = {"X-API-Key": key} if key else {}
    for course in courses:
        started = http.post(
            "/v1/threads",
            json={"agent": "courses", "message": f"Please delete the course {course}."},
            headers=headers,
        )
        assert started.status_code == 201, started.text
        ids.append(started.json()["run"]["interrupts"][0]["id"])
    started = http.post(
        "/v1/threads",
        json={"agent": "billing", "message": "Order A-1043 arrived broken, refund it please."},
        headers=headers,
    )
    assert started.status_code == 201, started.text
    ids.append(started.json()["run"]["interrupts"][0]["id"])
    return ids
