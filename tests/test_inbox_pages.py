"""What the inbox pages say (issue 15), as HTML: rows with the action and a one-line summary
of its arguments, ages and deadlines in words with the exact time on hover, typed argument
fields from the tool's schema, decision buttons, the conversation as chat, N-of-M quorums,
and bulk decisions through the same decision code (CSRF-checked, each request decided once,
failures reported per request)."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from interlock.checkpoint.base import InterruptRecord
from interlock.server import ApiKeys, create_app
from interlock.server._inbox_form import decision_from, fields
from interlock.server._inbox_request import request_context
from interlock.server._inbox_view import args_line, chat, quorum_of, relative, row, summary, until
from interlock.server.auth import Principal
from interlock.server.inbox import _templates
from tests import _inbox_scene as scene
from tests._http import served

KEYS = "k-ada=ada:approver;k-eve=eve:approver;k-bob=bob:requester"
NOW = datetime(2026, 12, 5, 15, 0, tzinfo=UTC)
ADA = Principal(name="ada", roles=frozenset({"approver"}))


@pytest.fixture(autouse=True)
def _clear() -> None:
    scene.ran.clear()


def _login(http: httpx.Client, key: str) -> None:
    assert http.post("/inbox/login", data={"key": key}).status_code == 303


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert match, page
    return match.group(1)


def _record(value: Any, **metadata: Any) -> InterruptRecord:
    return InterruptRecord(
        interrupt_id="0" * 32,
        thread_id="t-1",
        checkpoint_id="c",
        task_id="k",
        task_name="tools",
        index=0,
        value=value,
        created_at=NOW - timedelta(minutes=4),
        deadline=NOW + timedelta(minutes=30),
        metadata={"graph": "courses", "requested_by": "bob", **metadata},
    )


REVIEW = {
    "action_requests": [
        {"name": "delete_course", "args": {"course_name": "Outdated Java Tutorial"}}
    ],
    "review_configs": [
        {"action_name": "delete_course", "allowed_decisions": ["approve", "reject"]}
    ],
}


# ---- words ----------------------------------------------------------------------------------


def test_times_and_deadlines_read_as_words() -> None:
    assert relative(NOW - timedelta(minutes=4, seconds=10), NOW) == "4 min ago"
    assert relative(NOW - timedelta(seconds=2), NOW) == "just now"
    assert relative(NOW - timedelta(days=3, hours=1), NOW) == "3 d ago"
    assert relative(NOW + timedelta(hours=2, minutes=5), NOW) == "in 2 h"
    soon = until(NOW + timedelta(minutes=30), NOW)
    later = until(NOW + timedelta(hours=2, minutes=1), NOW)
    assert soon is not None and soon["text"] == "in 30 min" and soon["soon"] is True
    assert later is not None and later["text"] == "in 2 h" and later["soon"] is False
    past = until(NOW - timedelta(minutes=1), NOW)
    assert past is not None and past["text"] == "overdue" and past["soon"]
    assert later["title"] == "2026-12-05 17:01:00 UTC"
    assert until(None, NOW) is None


def test_a_row_says_which_call_with_which_arguments() -> None:
    action, line = summary(REVIEW)
    assert (action, line) == ("delete_course", "course_name: Outdated Java Tutorial")
    long = args_line({"body": "x" * 200, "to": "ada@example.com"})
    assert long == "body: " + "x" * 39 + "…, to: ada@example.com"  # each value cut
    many = args_line({f"k{n}": "v" * 30 for n in range(5)})
    assert many.endswith("…") and len(many) == 90  # and the whole line
    assert summary({"ship": "lamp"}) == ("ship", "lamp")
    two = {**REVIEW, "action_requests": REVIEW["action_requests"] * 2}
    assert summary(two)[1] == "course_name: Outdated Java Tutorial (+1 more)"
    item = row(_record(REVIEW, approvers=["ada"]), ADA, NOW, self_ok=False)
    assert item["age"] == "4 min ago" and item["age_title"] == "2026-12-05 14:56:00 UTC"
    assert item["deadline"]["text"] == "in 30 min" and item["deadline"]["soon"]
    assert item["yours"] and item["bulk"] and item["kind"] == "review:delete_course"
    answer = row(_record({"ship": "lamp"}), ADA, NOW, self_ok=False)
    assert answer["kind"] == "answer" and not answer["bulk"]  # decided on its page


def test_the_list_renders_rows_with_times_on_hover_and_red_deadlines() -> None:
    items = [row(_record(REVIEW), ADA, NOW, self_ok=False)]
    page = _templates().get_template("list.html").render(who=ADA, csrf="c", items=items)
    assert '<a class="act" href="/inbox/' + "0" * 32 + '">delete_course</a>' in page
    assert '<div class="args">course_name: Outdated Java Tutorial</div>' in page
    assert 'title="2026-12-05 14:56:00 UTC">4 min ago</time>' in page
    assert '<time class="deadline soon"' in page and ">in 30 min</time>" in page
    empty = _templates().get_template("list.html").render(who=ADA, csrf="c", items=[])
    assert "Nothing is waiting." in empty and "updates by itself" in empty


# ---- quorum (the shape another change will fill) ----------------------------------------------


def test_a_quorum_reads_n_of_m_in_the_list() -> None:
    """The words and the list row of a quorum request's votes (as `approval_view` shows
    them; the request page reads them from the votes room: tests/test_inbox_decisions_state.py)."""
    quorum = {"required": 2, "votes": [{"by": "ada", "vote": "approve", "at": NOW.isoformat()}]}
    assert quorum_of({"quorum": quorum})["line"] == "1 of 2 approvals, by ada"
    edited = {
        "required": 2,
        "votes": [{"by": "ada", "vote": "edit"}, {"by": "cy", "vote": "reject"}],
    }
    assert quorum_of({"quorum": edited})["line"] == "1 of 2 approvals, by ada; against: cy"
    assert quorum_of({}) is None and quorum_of({"quorum": {"required": "2"}}) is None
    record = _record(REVIEW)
    env = _templates()
    items = [row(record, ADA, NOW, self_ok=False, quorum=quorum)]
    listing = env.get_template("list.html").render(who=ADA, csrf="c", items=items)
    assert '<div class="quorum">1 of 2 approvals, by ada</div>' in listing
    eve = Principal(name="eve", roles=frozenset({"approver"}))
    plain = request_context(_NoStore(), {}, _record(REVIEW), eve, NOW)
    page = env.get_template("request.html").render(who=eve, csrf="c", **plain)
    assert "approvals" not in page and ">Approve<kbd>" in page  # no quorum: as before


class _NoStore:
    """Stands in for the store when no agent serves the graph (no conversation to read)."""


# ---- typed fields -------------------------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "properties": {
        "order_id": {"type": "string"},
        "amount": {"type": "number", "minimum": 0},
        "count": {"type": "integer"},
        "currency": {"enum": ["EUR", "USD"]},
        "notify": {"type": "boolean"},
        "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
        "lines": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["order_id", "amount", "currency", "notify"],
}
ARGS = {"order_id": "A-1", "amount": 90.0, "currency": "EUR", "notify": True, "lines": [{"n": 1}]}


def test_each_argument_gets_a_field_of_its_type() -> None:
    made = {f["arg"]: f for f in fields(SCHEMA, {**ARGS, "extra": {"x": 1}}, "a0.")}
    assert {k: f["kind"] for k, f in made.items()} == {
        "order_id": "text",
        "amount": "number",
        "count": "integer",
        "currency": "select",
        "notify": "checkbox",
        "note": "text",  # Optional[str]
        "lines": "json",  # nested: raw JSON
        "extra": "json",  # not in the schema: kept, as JSON
    }
    assert made["amount"]["min"] == 0 and made["amount"]["required"]
    assert made["currency"]["options"] == [('"EUR"', "EUR"), ('"USD"', "USD")]
    assert made["currency"]["value"] == '"EUR"' and made["notify"]["checked"]
    long = fields({"properties": {"body": {"type": "string"}}}, {"body": "y" * 200}, "a0.")
    assert long[0]["kind"] == "textarea"


def _typed(form: dict[str, str]) -> Any:
    schema = {"then": {"properties": {"decisions": {"prefixItems": [_item()]}}}}
    record = _record(
        {"action_requests": [{"name": "refund", "args": ARGS}]}, response_schema=schema
    )
    return decision_from({"form": "actions", "decision_0": "edit", **form}, record)


def _item() -> dict[str, Any]:
    args = {"properties": {"edited_action": {"properties": {"args": SCHEMA}}}}
    return {"then": args}


def test_typed_fields_become_the_edited_arguments() -> None:
    form = {
        "a0.order_id": "A-1",
        "a0.amount": "45.5",
        "a0.count": "",
        "a0.currency": '"USD"',
        "a0.note": "",
        "a0.lines": '[{"n": 2}]',
    }  # notify unchecked: absent
    edited = _typed(form)["decisions"][0]["edited_action"]["args"]
    assert edited == {
        "order_id": "A-1",
        "amount": 45.5,
        "currency": "USD",
        "notify": False,
        "lines": [{"n": 2}],
    }
    with pytest.raises(ValueError, match="amount of refund must be a number"):
        _typed({**form, "a0.amount": "lots"})
    with pytest.raises(ValueError, match="amount of refund is required"):
        _typed({**form, "a0.amount": " "})
    with pytest.raises(ValueError, match="lines of refund is not JSON"):
        _typed({**form, "a0.lines": "[{"})
    with pytest.raises(ValueError, match="count of refund must be a whole number"):
        _typed({**form, "a0.count": "1.5"})


# ---- chat ----------------------------------------------------------------------------------


def test_the_conversation_reads_as_chat() -> None:
    messages = [
        {"type": "system", "content": "You manage courses."},
        {"type": "human", "content": "delete Java"},
        {
            "type": "ai",
            "content": "",
            "tool_calls": [{"name": "delete_course", "args": {"course_name": "Java"}, "id": "c"}],
        },
        {"type": "tool", "content": "deleted", "tool_call_id": "c", "status": "error"},
        {"type": "ai", "content": [{"type": "text", "text": "Done."}]},
    ]
    bubbles = chat(messages)
    assert [b["role"] for b in bubbles] == ["system", "human", "ai", "tool", "ai"]
    assert bubbles[2]["calls"] == ["called delete_course(course_name=Java)"]
    assert bubbles[3]["tool"] == "delete_course" and bubbles[3]["error"]
    assert bubbles[4]["text"] == "Done."


# ---- over HTTP -----------------------------------------------------------------------------


def test_the_request_page_has_typed_fields_buttons_and_chat(saver: Any) -> None:
    with served(create_app(scene.agents(saver), keys=ApiKeys.parse(KEYS))) as http:
        ids = scene.ask_all(http, "k-bob", scene.COURSES[:1])
        _login(http, "k-ada")
        listing = http.get("/inbox").text
        assert "course_name: Outdated Java Tutorial" in listing
        assert "order_id: A-1043, amount: 90.0, currency: EUR" in listing
        assert re.search(r'class="deadline soon"[^>]*>in 39 min</time>', listing)
        page = http.get(f"/inbox/{ids[1]}").text
        assert 'type="number" id="a0.1" name="a0.amount" value="90.0" step="any"' in page
        assert '<option value="&#34;EUR&#34;" selected>EUR</option>' in page
        assert 'name="a0.notify_customer" checked' in page
        assert 'name="a0.note" value="Damaged in transit"' in page
        for button in ("Approve", "Edit &amp; approve", "Reject", "Respond"):
            assert f">{button}<kbd>" in page
        assert '<div class="bubble human">' in page and "refund it please." in page
        assert "called refund(" in page and "order_id=A-1043" in page  # (Postgres: any order)
        sent = http.post(
            f"/inbox/{ids[1]}",
            data={
                "csrf": _csrf(page),
                "form": "actions",
                "decision_0": "edit",
                "a0.order_id": "A-1043",
                "a0.amount": "45",
                "a0.currency": '"GBP"',
                "a0.note": "half",
            },  # notify_customer unchecked
        )
        assert sent.status_code == 303, sent.text
        decided = http.get(f"/inbox/{ids[1]}").text
        assert "Decided</strong> — resolved by ada" in decided and ">just now</time>" in decided
        assert '<details class="bubble tool"><summary>refund returned</summary>' in decided
    assert scene.ran == [("refund", "A-1043", 45, "GBP", False, "half")]


def test_bulk_decisions_go_one_by_one_and_report_each(saver: Any) -> None:
    with served(create_app(scene.agents(saver), keys=ApiKeys.parse(KEYS))) as http:
        first, second, third, pay = scene.ask_all(http, "k-bob")
        _login(http, "k-ada")
        csrf = _csrf(http.get("/inbox").text)
        forged = http.post("/inbox/bulk", data={"decision": "approve", "id": [first]})
        assert forged.status_code == 403 and saver.get_interrupt(first).status == "pending"
        mixed = http.post(
            "/inbox/bulk", data={"csrf": csrf, "decision": "approve", "id": [first, pay]}
        )
        assert mixed.status_code == 422 and "of one kind" in mixed.text
        bare = http.post("/inbox/bulk", data={"csrf": csrf, "decision": "reject", "id": [first]})
        assert bare.status_code == 422 and "Say why" in bare.text
        # eve decides the second one meanwhile, through the API
        eve = http.post(
            f"/v1/approvals/{second}/decision",
            json={"value": {"decisions": [{"type": "reject", "message": "keep it"}]}},
            headers={"X-API-Key": "k-eve"},
        )
        assert eve.status_code == 200, eve.text
        done = http.post(
            "/inbox/bulk",
            data={"csrf": csrf, "decision": "approve", "id": [first, second, third, "nope"]},
        )
        assert done.status_code == 200
        page = html.unescape(done.text)
        assert "2 of 4 approved. The others are marked below." in page
        assert "✓ approved" in page
        assert f"✗ not decided: request {second} was already resolved by eve" in page
        assert "✗ not decided: no such request" in page
        assert [saver.get_interrupt(i).status for i in (first, third)] == ["resolved"] * 2
        assert saver.get_interrupt(pay).status == "pending"
        decided = [
            e
            for e in saver.list_audit(limit=200).items
            if e.action == "approval.decided" and e.actor == "ada"
        ]
        assert sorted(e.interrupt_id for e in decided) == sorted([first, third])  # one by one
        again = http.post("/inbox/bulk", data={"csrf": csrf, "decision": "approve", "id": [first]})
        assert "0 of 1 approved" in again.text and saver.get_interrupt(first).resume is not None
    deleted = sorted(c for name, c, *_ in scene.ran if name == "delete_course")
    assert deleted == sorted([scene.COURSES[0], scene.COURSES[2]])  # each once


def test_a_requester_cannot_bulk_approve_their_own(saver: Any) -> None:
    keys = ApiKeys.parse(KEYS + ";k-cy=cy:requester,approver")
    with served(create_app(scene.agents(saver), keys=keys)) as http:
        [own, _pay] = scene.ask_all(http, "k-cy", scene.COURSES[:1])
        _login(http, "k-cy")
        listing = http.get("/inbox").text
        assert 'title="decide this one on its page"' in listing  # not selectable: not hers
        sent = http.post(
            "/inbox/bulk", data={"csrf": _csrf(listing), "decision": "approve", "id": [own]}
        )
        assert "0 of 1 approved" in sent.text and "may not decide it" in sent.text
        assert saver.get_interrupt(own).status == "pending" and scene.ran == []


def test_the_script_and_style_sheet_are_served(saver: Any) -> None:
    with served(create_app(scene.agents(saver), keys=ApiKeys.parse(KEYS))) as http:
        script = http.get("/inbox/static/inbox.js")
        assert script.status_code == 200 and "text/javascript" in script.headers["content-type"]
        assert "innerHTML" not in script.text  # a request's text is set as text
        assert http.get("/inbox/static/inbox.css").headers["content-type"].startswith("text/css")
        assert http.get("/inbox/static/app.py").status_code == 404
        assert http.get("/inbox/static/..%2Finbox.py").status_code == 404


def test_thread_and_audit_pages_show_times_in_words(saver: Any) -> None:
    keys = ApiKeys.parse(KEYS + ";k-root=root:admin")
    with served(create_app(scene.agents(saver), keys=keys)) as http:
        [iid, _] = scene.ask_all(http, "k-bob", scene.COURSES[:1])
        thread_id = saver.get_interrupt(iid).thread_id
        _login(http, "k-root")
        for url in (f"/inbox/threads/{thread_id}", "/inbox/audit"):
            page = http.get(url).text
            assert re.search(r'<time datetime="[^"]+" title="[^"]+ UTC">just now</time>', page)
            assert not re.search(r">\d{4}-\d\d-\d\dT", page)  # no raw ISO text
    assert json.dumps(scene.ran) == "[]"


def test_a_review_of_several_calls_picks_a_decision_per_call() -> None:
    two = {
        "action_requests": [
            {"name": "refund", "args": {"order_id": "o1"}},
            {"name": "refund", "args": {"order_id": "o2"}},
        ],
        "review_configs": [
            {"action_name": "refund", "allowed_decisions": ["approve", "reject"]},
            {"action_name": "refund", "allowed_decisions": ["approve", "edit", "respond"]},
        ],
    }
    context = request_context(_NoStore(), {}, _record(two), ADA, NOW)
    page = _templates().get_template("request.html").render(who=ADA, csrf="c", **context)
    assert 'name="decision_0" value="approve" checked' in page
    assert 'name="decision_0" value="edit"' not in page  # only what the policy allows
    assert 'name="decision_1" value="respond"' in page and 'id="do-send"' in page
    assert 'id="args_0"' in page  # no schema carried: the arguments as JSON
    assert 'id="do-approve"' not in page


def test_an_answer_with_an_object_schema_is_a_form_of_fields(saver: Any) -> None:
    from tests.test_inbox_views import ask_graph

    schema = {
        "type": "object",
        "properties": {
            "approved": {"type": "boolean"},
            "budget": {"type": "integer", "default": 100},
            "comment": {"type": "string"},
        },
        "required": ["approved"],
    }
    graph = ask_graph(saver, "planner", response_schema=schema)
    with served(create_app({"planner": graph}, keys=ApiKeys.parse(KEYS))) as http:
        started = http.post(
            "/v1/threads", json={"input": {"item": "trip"}}, headers={"X-API-Key": "k-bob"}
        ).json()
        iid = started["run"]["interrupts"][0]["id"]
        _login(http, "k-ada")
        page = http.get(f"/inbox/{iid}").text
        assert '<input type="checkbox" id="f.0" name="f.approved">' in page
        assert 'name="f.budget" value="100" step="1"' in page
        assert "Answer as JSON instead" in page  # still possible
        bad = http.post(
            f"/inbox/{iid}", data={"csrf": _csrf(page), "form": "fields", "f.budget": "many"}
        )
        assert bad.status_code == 422 and "budget of the answer must be a whole number" in bad.text
        sent = http.post(
            f"/inbox/{iid}",
            data={"csrf": _csrf(page), "form": "fields", "f.approved": "on", "f.budget": "120"},
        )
        assert sent.status_code == 303, sent.text
        thread = http.get(
            f"/v1/threads/{started['thread_id']}", headers={"X-API-Key": "k-ada"}
        ).json()
    assert thread["values"]["answer"] == {"approved": True, "budget": 120}
