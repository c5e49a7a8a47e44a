"""API bearer tokens from the company's OpenID provider: checked against the issuer's
published keys (signature, issuer, audience, expiry and not-before with leeway, key
rotation by `kid`), mapped to the same principal as the person's API key and sign-in, with
roles and groups from claims; and risky decisions (`max_auth_age`) that need a recent
sign-in. The issuer is a loopback server publishing a key set; the test signs the tokens
(tests/_oidc.py), since only that way can it make expired, misaddressed, tampered or
unknown-key tokens.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, TypedDict

import pytest

import interlock as il
from interlock import AIMessage, InMemorySaver, create_agent, tool
from interlock.agent.approval import ApprovalError, normalise_policies
from interlock.agent.models.scripted import ScriptedChatModel
from interlock.server import ApiKeys, create_app
from interlock.server.auth import Principal, auth_age_problem
from interlock.server.oidc import OidcConfig, OidcUnavailable, load_mapping
from tests._http import served
from tests._oidc import Issuer


class Ask(TypedDict, total=False):
    answer: Any


def ask_graph(saver: Any, **interrupt_kwargs: Any) -> il.CompiledStateGraph:
    def ask(state: Ask) -> dict:
        return {"answer": il.interrupt({"pay": 120}, **interrupt_kwargs)}

    g = il.StateGraph(Ask)
    g.add_node("ask", ask)
    g.add_edge(il.START, "ask")
    return g.compile(checkpointer=saver, name="payer")


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    made = Issuer()
    try:
        yield made
    finally:
        made.close()


def config(issuer: Issuer, **kw: Any) -> OidcConfig:
    return OidcConfig(
        issuer=issuer.url,
        client_id="interlock-inbox",
        audiences=("api://interlock",),
        roles_claim="roles",
        **kw,
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def start(http: Any, token: str) -> str:
    """Start a thread as the token's person; the id of the request it raised."""
    made = http.post("/v1/threads", json={"input": {}}, headers=bearer(token))
    assert made.status_code == 201, made.text
    return made.json()["run"]["interrupts"][0]["id"]


def test_a_bearer_token_is_a_person_with_roles_and_groups_from_claims(issuer: Issuer) -> None:
    graph = ask_graph(InMemorySaver(), approvers=["group:finance"])
    with served(create_app(graph, oidc=config(issuer))) as http:
        bob = issuer.mint("bob-sub", roles=["requester"])
        iid = start(http, bob)
        assert http.get(f"/v1/approvals/{iid}", headers=bearer(bob)).status_code == 403
        outsider = issuer.mint("eve-sub", roles=["approver"], groups=["sales"])
        refused = http.post(
            f"/v1/approvals/{iid}/decision", json={"value": "yes"}, headers=bearer(outsider)
        )
        assert refused.status_code == 403 and refused.json()["error"] == "not_an_approver"
        ada = issuer.mint("ada-sub", roles=["approver"], groups=["finance"], name="Ada")
        done = http.post(
            f"/v1/approvals/{iid}/decision", json={"value": "yes"}, headers=bearer(ada)
        )
        assert done.status_code == 200, done.text
        assert done.json()["approval"]["decided_by"] == "ada-sub"
        assert done.json()["approval"]["requested_by"] == "bob-sub"


@pytest.mark.parametrize(
    ("claims", "kid", "error"),
    [
        ({"exp": int(time.time()) - 3600}, "k1", "expired"),
        ({"aud": "api://someone-else"}, "k1", "audience"),
        ({"iss": "https://evil.example"}, "k1", "issued by"),
        ({"nbf": int(time.time()) + 3600}, "k1", "not valid yet"),
        ({"exp": None}, "k1", "no expiry"),
        ({}, "k-unpublished", "does not publish"),
    ],
    ids=["expired", "wrong-audience", "wrong-issuer", "not-yet-valid", "no-exp", "unknown-kid"],
)
def test_bad_tokens_get_a_401_saying_why(
    issuer: Issuer, claims: dict[str, Any], kid: str, error: str
) -> None:
    issuer.add_key("k-unpublished", publish=False)
    with served(create_app(ask_graph(InMemorySaver()), oidc=config(issuer))) as http:
        token = issuer.mint("ada", kid=kid, roles=["approver"], **claims)
        answer = http.get("/v1/agents", headers=bearer(token))
        assert answer.status_code == 401, answer.text
        assert answer.headers["content-type"] == "application/json"
        assert answer.json()["error"] == "invalid_token"
        assert error in answer.json()["message"]
        challenge = answer.headers["www-authenticate"]
        assert challenge.startswith('Bearer error="invalid_token", error_description="')


def test_tampered_unsigned_and_garbage_tokens_are_refused_never_500(issuer: Issuer) -> None:
    with served(create_app(ask_graph(InMemorySaver()), oidc=config(issuer))) as http:
        good = issuer.mint("bob", roles=["requester"])
        assert http.get("/v1/agents", headers=bearer(good)).status_code == 200
        head, payload, signature = good.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
        claims["roles"] = ["admin"]  # bob makes himself an admin
        forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        for token in (
            f"{head}.{forged}.{signature}",
            f"{head}.{payload}.{signature[:-4]}AAAA",
            base64.urlsafe_b64encode(b'{"alg":"none"}').decode().rstrip("=") + f".{payload}.",
            "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln",
            "eyJ.x.y",
            "a.b.c",
        ):
            answer = http.get("/v1/agents", headers=bearer(token))
            assert answer.status_code == 401, (token, answer.text)
            assert answer.json()["error"] in ("invalid_token", "unauthenticated")


def test_a_token_signed_with_a_shared_secret_is_refused(issuer: Issuer) -> None:
    from joserfc import jwt
    from joserfc.jwk import OctKey

    key = OctKey.generate_key(256)
    now = int(time.time())
    claims = {"iss": issuer.url, "aud": "api://interlock", "sub": "x", "exp": now + 60}
    token = jwt.encode({"alg": "HS256", "kid": "k1"}, claims, key, algorithms=["HS256"])
    with served(create_app(ask_graph(InMemorySaver()), oidc=config(issuer))) as http:
        answer = http.get("/v1/agents", headers=bearer(token))
        assert answer.status_code == 401 and "HS256" in answer.json()["message"]


def test_a_token_a_little_past_expiry_passes_within_the_leeway(issuer: Issuer) -> None:
    with served(create_app(ask_graph(InMemorySaver()), oidc=config(issuer, leeway=60))) as http:
        late = issuer.mint("bob", roles=["requester"], exp=int(time.time()) - 20)
        assert http.get("/v1/agents", headers=bearer(late)).status_code == 200
        too_late = issuer.mint("bob", roles=["requester"], exp=int(time.time()) - 120)
        assert http.get("/v1/agents", headers=bearer(too_late)).status_code == 401


def test_a_rotated_key_is_fetched_when_a_token_names_it(issuer: Issuer) -> None:
    with served(create_app(ask_graph(InMemorySaver()), oidc=config(issuer))) as http:
        assert issuer.jwks_fetches == 1  # read once at start-up
        old = issuer.mint("bob", roles=["requester"])
        assert http.get("/v1/agents", headers=bearer(old)).status_code == 200
        assert http.get("/v1/agents", headers=bearer(old)).status_code == 200
        assert issuer.jwks_fetches == 1  # cached
        issuer.add_key("k2", publish=True)  # the provider rotates its signing key
        issuer.published.remove("k1")
        new = issuer.mint("bob", kid="k2", roles=["requester"])
        assert http.get("/v1/agents", headers=bearer(new)).status_code == 200
        assert issuer.jwks_fetches == 2
        retired = http.get("/v1/agents", headers=bearer(old))
        assert retired.status_code == 401 and "does not publish" in retired.json()["message"]


def test_unknown_key_ids_do_not_hammer_the_issuer(issuer: Issuer) -> None:
    from interlock.server._tokens import JwksCache

    now = [1000.0]
    cache = JwksCache(f"{issuer.url}/jwks", min_refresh=5.0, clock=lambda: now[0])
    cache.refresh()
    assert [cache.key_for(f"made-up-{i}") for i in range(20)] == [[]] * 20
    assert cache.fetches == 2  # the first unknown id refreshed; then min_refresh holds
    now[0] += 4
    assert cache.key_for("made-up-again") == [] and cache.fetches == 2
    now[0] += 2
    issuer.add_key("k2", publish=True)
    assert len(cache.key_for("k2")) == 1 and cache.fetches == 3


def test_api_keys_keep_working_and_name_the_same_person(issuer: Issuer) -> None:
    keys = ApiKeys.parse("k-ada=ada:approver;k-bot=deploy-bot:requester,service")
    graph = ask_graph(InMemorySaver())
    with served(create_app(graph, keys=keys, oidc=config(issuer))) as http:
        iid = start(http, issuer.mint("ada", roles=["requester"]))  # ada asks with a token
        by_key = http.post(
            f"/v1/approvals/{iid}/decision", json={"value": "ok"}, headers={"X-API-Key": "k-ada"}
        )
        # one person, one principal: her key may not approve what her token asked
        assert by_key.status_code == 403 and by_key.json()["error"] == "self_approval"
        made = http.post("/v1/threads", json={"input": {}}, headers=bearer("k-bot"))
        assert made.status_code == 201
        assert http.get("/v1/agents", headers=bearer("wrong-key")).status_code == 401
    bot = keys.authenticate("k-bot")
    assert bot is not None and bot.service and not bot.is_person
    assert keys.named("ada") is not None and keys.named("ada").is_person  # type: ignore[union-attr]


def test_a_mapping_file_turns_claim_values_into_roles_and_groups(
    issuer: Issuer, tmp_path: Path
) -> None:
    mapping = tmp_path / "claims.json"
    mapping.write_text(
        json.dumps(
            {
                "groups": {"okta-finance": ["group:finance", "role:approver"]},
                "email": {"bob@example.com": "role:requester"},
            }
        )
    )
    graph = ask_graph(InMemorySaver(), approvers=["group:finance"])
    cfg = config(issuer, mapping=load_mapping(mapping), id_claim="email")
    with served(create_app(graph, oidc=cfg)) as http:
        iid = start(http, issuer.mint("b-1", email="bob@example.com"))
        ada = issuer.mint("a-1", email="ada@example.com", groups=["okta-finance"])
        done = http.post(f"/v1/approvals/{iid}/decision", json={"value": 1}, headers=bearer(ada))
        assert done.status_code == 200, done.text
        assert done.json()["approval"]["decided_by"] == "ada@example.com"
        nameless = issuer.mint("c-1", roles=["approver"])  # no email claim to name them by
        answer = http.get("/v1/agents", headers=bearer(nameless))
        assert answer.status_code == 401 and "'email'" in answer.json()["message"]
    bad = tmp_path / "bad.toml"
    bad.write_text('[groups]\nx = ["role:wizard"]\n')
    with pytest.raises(ValueError, match="unknown role 'wizard'"):
        load_mapping(bad)


def test_a_risky_decision_needs_a_recent_sign_in(issuer: Issuer) -> None:
    saver = InMemorySaver()
    graph = ask_graph(saver, max_auth_age=timedelta(minutes=5))
    keys = ApiKeys.parse("k-ada=ada:approver")
    with served(create_app(graph, keys=keys, oidc=config(issuer))) as http:
        iid = start(http, issuer.mint("bob", roles=["requester"]))
        assert http.get(f"/v1/approvals/{iid}", headers=bearer("k-ada")).status_code == 200
        old = issuer.mint("ada", roles=["approver"], auth_time=int(time.time()) - 3600)
        refused = http.post(f"/v1/approvals/{iid}/decision", json={"value": 1}, headers=bearer(old))
        assert refused.status_code == 401
        assert refused.json()["error"] == "insufficient_user_authentication"
        assert "within the last 300 s" in refused.json()["message"]
        assert "signed in 3600 s ago" in refused.json()["message"]
        assert refused.headers["www-authenticate"] == (
            'Bearer error="insufficient_user_authentication", max_age=300'
        )
        by_key = http.post(
            f"/v1/approvals/{iid}/decision", json={"value": 1}, headers={"X-API-Key": "k-ada"}
        )
        assert by_key.status_code == 401 and "no sign-in time" in by_key.json()["message"]
        assert saver.get_interrupt(iid).status == "pending"  # type: ignore[union-attr]
        fresh = issuer.mint(
            "ada", roles=["approver"], auth_time=int(time.time()) - 10, amr=["pwd", "mfa"]
        )
        done = http.post(f"/v1/approvals/{iid}/decision", json={"value": 1}, headers=bearer(fresh))
        assert done.status_code == 200, done.text
    entries = saver.list_audit(interrupt_id=iid, limit=20).items
    refusals = [e for e in entries if e.action == "approval.refused"]
    assert [e.detail["reason"] for e in refusals] == ["stale_authentication"] * 2
    [proof] = [e for e in entries if e.action == "approval.authenticated"]
    assert proof.actor == "ada" and proof.detail["amr"] == ["pwd", "mfa"]
    assert proof.detail["credential"] == "bearer" and proof.detail["max_auth_age"] == 300
    assert proof.detail["auth_time"].startswith(time.strftime("%Y-%m-%d", time.gmtime()))


@tool
def wire_money(amount: int) -> str:
    """Wire money.

    Args:
        amount: How much.
    """
    return f"wired {amount}"


def test_an_agent_policy_asks_for_a_recent_sign_in() -> None:
    model = ScriptedChatModel(
        [
            AIMessage(
                content="", tool_calls=[{"name": "wire_money", "args": {"amount": 5}, "id": "c"}]
            ),
            "Done.",
        ]
    )
    agent = create_agent(
        model=model,
        tools=[wire_money],
        checkpointer=InMemorySaver(),
        interrupt_on={"wire_money": {"max_auth_age": 120}},
    )
    result = agent.invoke({"messages": [("user", "pay")]}, {"configurable": {"thread_id": "t"}})
    [request] = result["__interrupt__"]
    record = agent.checkpointer.get_interrupt(request.id)  # type: ignore[union-attr]
    assert record.metadata["max_auth_age"] == 120
    with pytest.raises(ApprovalError, match="max_auth_age"):
        normalise_policies({"wire_money": {"max_auth_age": -1}}, ["wire_money"])
    with pytest.raises(il.GraphError, match="max_auth_age"):
        ask_graph(InMemorySaver(), max_auth_age="soon").invoke(
            {}, {"configurable": {"thread_id": "x"}}
        )


def test_auth_age_rules() -> None:
    now = 10_000.0
    ada = Principal("ada", frozenset({"approver"}), credential="session", auth_time=9_900)
    assert auth_age_problem(ada, None, now) is None
    assert auth_age_problem(ada, 300, now) is None
    assert "signed in 100 s ago" in (auth_age_problem(ada, 60, now) or "")
    assert "no sign-in time" in (auth_age_problem(Principal("k", frozenset()), 60, now) or "")


def test_an_unreachable_issuer_fails_at_start_up_with_one_line(tmp_path: Path) -> None:
    with pytest.raises(OidcUnavailable, match="cannot reach the OpenID issuer"):
        create_app(
            ask_graph(InMemorySaver()),
            oidc=OidcConfig(issuer="http://127.0.0.1:9", client_id="x", timeout=2),
        )
    (tmp_path / "agents_oidc.py").write_text(
        "from tests.test_oidc_tokens import ask_graph\n"
        "def make(saver):\n    return ask_graph(saver)\n"
    )
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-m", "interlock.cli", "serve", "agents_oidc:make", "--port", "0",
         "--db", f"sqlite:///{tmp_path}/x.db",
         "--oidc-issuer", "http://127.0.0.1:9", "--oidc-client-id", "inbox"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={"PYTHONPATH": f"{root}:{tmp_path}", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("interlock serve: cannot reach the OpenID issuer http://127.0.0.1:9")


def test_an_issuer_that_calls_itself_otherwise_is_refused(issuer: Issuer) -> None:
    cfg = OidcConfig(issuer=issuer.url + "/", client_id="x")
    with pytest.raises(OidcUnavailable, match="calls itself"):
        cfg.connect()


def test_the_agent_server_api_takes_the_same_tokens(issuer: Issuer) -> None:
    with served(create_app(ask_graph(InMemorySaver()), oidc=config(issuer))) as http:
        good = issuer.mint("bob", roles=["requester"])
        found = http.post("/assistants/search", json={}, headers=bearer(good))
        assert found.status_code == 200, found.text
        stale = issuer.mint("bob", roles=["requester"], aud="api://other")
        refused = http.post("/assistants/search", json={}, headers=bearer(stale))
        assert refused.status_code == 401 and "audience" in refused.json()["message"]


def test_two_sign_ins_of_one_person_never_count_twice_in_a_quorum(issuer: Issuer) -> None:
    """One person is one principal whatever credential they use: ada's API key and her
    provider's token are the same voter, so her second vote is refused (409
    `already_voted`) and the request waits for another person."""
    saver = InMemorySaver()
    graph = ask_graph(saver, approvers=["ada", "bob", "cy"], quorum=2)
    keys = ApiKeys.parse("k-ada=ada:approver;k-bob=bob:approver;k-req=rita:requester")
    with served(create_app(graph, keys=keys, oidc=config(issuer))) as http:
        made = http.post("/v1/threads", json={"input": {}}, headers={"X-API-Key": "k-req"})
        iid = made.json()["run"]["interrupts"][0]["id"]
        first = http.post(
            f"/v1/approvals/{iid}/decision", json={"value": "ok"}, headers={"X-API-Key": "k-ada"}
        )
        assert first.status_code == 202, first.text  # 1 of 2
        token = issuer.mint("ada", roles=["approver"])  # the same person, signed in
        twice = http.post(
            f"/v1/approvals/{iid}/decision", json={"value": "ok"}, headers=bearer(token)
        )
        assert twice.status_code == 409 and twice.json()["error"] == "already_voted"
        view = http.get(f"/v1/approvals/{iid}", headers={"X-API-Key": "k-bob"}).json()
        assert view["status"] == "pending"
        assert [v["by"] for v in view["quorum"]["votes"]] == ["ada"]
        done = http.post(
            f"/v1/approvals/{iid}/decision", json={"value": "ok"}, headers={"X-API-Key": "k-bob"}
        )
        assert done.status_code == 200 and done.json()["approval"]["status"] == "resolved"
