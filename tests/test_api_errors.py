"""The /v1 API's refusals: bounded integers on every store, key tables given as strings,
malformed JSON bodies (422 after authentication), non-finite numbers, empty filters, 405
`Allow`, and the error statuses each operation documents."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypedDict

import pytest
from fastapi.testclient import TestClient

import interlock as il
from interlock.server import ApiKeys, create_app
from interlock.server._operations import MAX_OFFSET

KEYS = "k-bob=bob:requester;k-ada=ada:approver;k-root=root:admin"
BOB = {"Authorization": "Bearer k-bob"}
ADA = {"Authorization": "Bearer k-ada"}
ROOT = {"Authorization": "Bearer k-root"}
JSON = {"content-type": "application/json"}


class Pay(TypedDict, total=False):
    amount: int
    answer: Any


def pay_graph(saver: Any) -> il.CompiledStateGraph:
    def ask(state: Pay) -> dict:
        return {"answer": il.interrupt({"pay": state.get("amount")})}

    g = il.StateGraph(Pay)
    g.add_node("ask", ask)
    g.add_edge(il.START, "ask")
    return g.compile(checkpointer=saver, name="pay")


@pytest.fixture
def client(saver: Any) -> Iterator[TestClient]:
    app = create_app({"pay": pay_graph(saver)}, keys=ApiKeys.parse(KEYS))
    with TestClient(app, raise_server_exceptions=False) as http:
        yield http


def _pending(client: TestClient) -> str:
    started = client.post("/v1/threads", json={"input": {"amount": 5}}, headers=BOB)
    assert started.status_code == 201, started.text
    return started.json()["run"]["interrupts"][0]["id"]


# ---- integers beyond the stores' INTEGER ----------------------------------------------


@pytest.mark.parametrize("offset", [2**63, 2**63 - 1, MAX_OFFSET + 1, 10**30])
def test_an_offset_beyond_the_bound_is_422_on_every_store(client: TestClient, offset: int) -> None:
    response = client.get(f"/v1/threads?offset={offset}", headers=ADA)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_request"
    assert response.json()["details"][0]["where"] == "query.offset"


def test_the_largest_offset_is_an_empty_last_page(client: TestClient) -> None:
    _pending(client)
    response = client.get(f"/v1/threads?offset={MAX_OFFSET}&limit=500", headers=ADA)
    assert response.status_code == 200, response.text
    assert response.json() == {"threads": [], "next_offset": None}


def test_every_integer_parameter_of_the_api_is_bounded() -> None:
    app = create_app(pay_graph(il.InMemorySaver()))
    unbounded = [
        f"{method.upper()} {path} {p['name']}"
        for path, item in app.openapi()["paths"].items()
        if path.startswith("/v1/")
        for method, op in item.items()
        for p in op.get("parameters", [])
        if p["schema"].get("type") == "integer"
        and not ("maximum" in p["schema"] and "minimum" in p["schema"])
    ]
    assert unbounded == []


# ---- keys as a spec string ----------------------------------------------------------------


def test_keys_may_be_given_as_a_spec_string() -> None:
    app = create_app(pay_graph(il.InMemorySaver()), keys="k1=ada:approver")
    with TestClient(app) as http:
        assert http.get("/v1/agents").status_code == 401
        assert http.get("/v1/agents", headers={"Authorization": "Bearer k2"}).status_code == 401
        ok = http.get("/v1/agents", headers={"Authorization": "Bearer k1"})
        assert ok.status_code == 200 and ok.json() == {"agents": ["pay"]}
        assert http.get("/v1/approvals", headers={"X-API-Key": "k1"}).status_code == 200


@pytest.mark.parametrize("spec", ["", "k1=ada", "k1=ada:pilot", "k1"])
def test_a_bad_key_string_is_refused_at_start_up(spec: str) -> None:
    with pytest.raises(ValueError):
        create_app(pay_graph(il.InMemorySaver()), keys=spec)


def test_keys_of_another_type_are_refused_at_start_up() -> None:
    with pytest.raises(TypeError, match="keys must be ApiKeys"):
        create_app(pay_graph(il.InMemorySaver()), keys={"k1": "ada"})  # type: ignore[arg-type]


# ---- malformed bodies -------------------------------------------------------------------

MALFORMED = {
    "invalid UTF-8": b'{"input": {"amount": "\xff\xfe"}}',
    "nested 100,000 deep": b"[" * 100_000 + b"]" * 100_000,
    "an integer of 5,000 digits": b'{"input": {"amount": ' + b"7" * 5000 + b"}}",
    "not JSON": b'{"input": ',
    "NaN": b'{"input": {"amount": NaN}}',
}


@pytest.mark.parametrize("what", sorted(MALFORMED))
def test_a_malformed_body_is_422_invalid_request_and_creates_nothing(
    client: TestClient, what: str
) -> None:
    response = client.post("/v1/threads", content=MALFORMED[what], headers={**BOB, **JSON})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_request" and "not acceptable JSON" in body["message"]
    assert body["details"] == [{"where": "body", "problem": body["message"][len("the body is ") :]}]
    assert client.get("/v1/threads", headers=ADA).json()["threads"] == []
    audit = client.get("/v1/audit", headers=ROOT).json()["entries"]
    assert [e for e in audit if e["action"] == "thread.created"] == []


@pytest.mark.parametrize("what", sorted(MALFORMED))
def test_an_unauthenticated_malformed_body_is_401(client: TestClient, what: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = client.post("/v1/threads", content=MALFORMED[what], headers={**headers, **JSON})
        assert response.status_code == 401, response.text
        assert response.json()["error"] == "unauthenticated"


def test_a_malformed_body_of_a_caller_without_the_role_is_422(client: TestClient) -> None:
    """A known caller without the role: the body is checked after the key, before the role
    (each route asks for its role in its body), so a malformed body is 422 either way."""
    response = client.post("/v1/approvals/expire", content=b"{", headers={**BOB, **JSON})
    assert response.status_code == 422 and response.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    "number", [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e400", b'{"x": [NaN]}']
)
def test_a_decision_with_a_non_finite_number_is_refused_and_stays_pending(
    client: TestClient, number: bytes
) -> None:
    request = _pending(client)
    response = client.post(
        f"/v1/approvals/{request}/decision",
        content=b'{"value": ' + number + b"}",
        headers={**ADA, **JSON},
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_request"
    approval = client.get(f"/v1/approvals/{request}", headers=ADA).json()
    assert approval["status"] == "pending" and approval["decision"] is None
    decided = client.post(f"/v1/approvals/{request}/decision", json={"value": 1.5}, headers=ADA)
    assert decided.status_code == 200, decided.text
    assert decided.json()["approval"]["decision"] == 1.5


def test_large_but_finite_numbers_are_kept(client: TestClient) -> None:
    request = _pending(client)
    body = b'{"value": {"big": 1e308, "digits": ' + b"9" * 4000 + b"}}"
    decided = client.post(
        f"/v1/approvals/{request}/decision", content=body, headers={**ADA, **JSON}
    )
    assert decided.status_code == 200, decided.text
    decision = decided.json()["approval"]["decision"]
    assert decision["digits"] == int("9" * 4000)
    # (Postgres's JSONB keeps 1e308 as the numeric 10**308, which comes back as an integer)
    assert float(decision["big"]) == 1e308


# ---- empty filters and the schema ---------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "where"),
    [
        ("/v1/approvals?thread_id=", "query.thread_id"),
        ("/v1/approvals?cursor=", "query.cursor"),
        ("/v1/audit?thread_id=", "query.thread_id"),
        ("/v1/audit?interrupt_id=", "query.interrupt_id"),
        ("/v1/audit?cursor=", "query.cursor"),
    ],
)
def test_an_empty_filter_is_refused_as_the_schema_says(
    client: TestClient, path: str, where: str
) -> None:
    response = client.get(path, headers=ROOT)
    assert response.status_code == 422, response.text
    assert response.json()["details"][0]["where"] == where
    operation = client.app.openapi()["paths"][path.split("?")[0]]["get"]  # type: ignore[attr-defined]
    [param] = [p for p in operation["parameters"] if p["name"] == where.split(".")[1]]
    schemas = param["schema"].get("anyOf", [param["schema"]])
    assert all(s.get("minLength") == 1 for s in schemas if s.get("type") == "string")


# ---- 405 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/v1/threads", {"GET", "POST"}),
        ("DELETE", "/v1/threads/t1", {"GET"}),
        ("PUT", "/v1/approvals/expire", {"GET", "POST"}),  # expire, and {interrupt_id}
        ("PATCH", "/v1/threads/t1/runs", {"GET", "POST"}),
    ],
)
def test_a_405_lists_every_allowed_method(
    client: TestClient, method: str, path: str, allowed: set[str]
) -> None:
    response = client.request(method, path, headers=ROOT)
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
    assert set(response.headers["allow"].split(", ")) == allowed


# ---- the spec documents the error statuses ------------------------------------------------

DOCUMENTED = {
    ("get", "/v1/agents"): {401},
    ("post", "/v1/threads"): {401, 403, 404, 409, 413, 422, 500, 503},
    ("get", "/v1/threads"): {401, 403, 422, 503},
    ("get", "/v1/threads/{thread_id}"): {401, 403, 404, 409, 422, 503},
    ("post", "/v1/threads/{thread_id}/runs"): {401, 403, 404, 409, 413, 422, 500, 503},
    ("post", "/v1/threads/{thread_id}/runs/stream"): {401, 403, 404, 409, 413, 422, 503},
    ("get", "/v1/approvals"): {400, 401, 403, 422, 503},
    ("post", "/v1/approvals/{interrupt_id}/decision"): {401, 403, 404, 409, 413, 422, 500, 503},
    ("post", "/v1/approvals/expire"): {401, 403, 413, 422, 503},
    ("get", "/v1/audit"): {400, 401, 403, 422, 503},
}


def test_each_operation_documents_its_error_statuses_with_the_error_schema() -> None:
    spec = create_app(pay_graph(il.InMemorySaver()), keys=KEYS).openapi()
    assert spec["components"]["schemas"]["ErrorBody"]["required"] == ["error", "message"]
    for (method, path), statuses in DOCUMENTED.items():
        responses = spec["paths"][path][method]["responses"]
        errors = {int(s) for s in responses if int(s) >= 400}
        assert errors == statuses, (method, path)
        for status in errors:
            schema = responses[str(status)]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (path, status)
    for path, item in spec["paths"].items():  # every keyed /v1 operation may answer 401
        for method, op in item.items():
            if path.startswith("/v1/") and not path.startswith("/v1/health"):
                assert "401" in op["responses"], (method, path)
                assert "HTTPValidationError" not in str(op), (method, path)  # not our shape
    stream = spec["paths"]["/v1/threads/{thread_id}/runs/stream"]["post"]["responses"]["200"]
    assert "text/event-stream" in stream["content"]
    assert "202" in spec["paths"]["/v1/threads/{thread_id}/runs"]["post"]["responses"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/threads/t/runs?offset={offset}", None),
        ("post", "/threads/search", {"offset": "{offset}"}),
        ("post", "/assistants/search", {"offset": "{offset}"}),
    ],
)
def test_the_agent_server_api_bounds_its_offsets_too(
    client: TestClient, method: str, path: str, body: Any
) -> None:
    for offset in (2**63, MAX_OFFSET + 1):
        url = path.format(offset=offset)
        payload = None if body is None else {"offset": offset}
        response = client.request(method.upper(), url, json=payload, headers=ADA)
        assert 400 <= response.status_code < 500, (url, response.status_code, response.text)
