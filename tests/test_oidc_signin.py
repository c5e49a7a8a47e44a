"""Signing in to the web inbox with a real OpenID provider on loopback (oidc-provider-mock on
`localhost`, interlock on `127.0.0.1`): authorization code with PKCE, the signed session
(SameSite=Lax, so it survives the provider's cross-site redirect back), groups from claims
satisfying a `group:` rule, decisions recorded under the person's `sub`, sign-out, expired
sessions returning to their page, and the step-up for a request with `max_auth_age`.
Driven over HTTP here; tests/test_oidc_browser.py does it in Chromium.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from interlock import InMemorySaver
from interlock.server import ApiKeys, create_app
from interlock.server.oidc import OidcConfig
from tests._http import served
from tests._oidc import MOCK_WARNINGS, MockProvider, mock_provider
from tests.test_oidc_tokens import ask_graph

pytestmark = MOCK_WARNINGS


@pytest.fixture(scope="module")
def idp() -> Iterator[MockProvider]:
    with mock_provider() as provider:
        yield provider


class Clock:
    """interlock's clock, which a test may move forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert match, page
    return match.group(1)


def through_provider(http: httpx.Client, idp: MockProvider, start: str, sub: str) -> httpx.Response:
    """Follow interlock's redirects from `start` to the provider, sign in there as `sub`
    and come back; the response of interlock's callback."""
    response = http.get(start)
    while response.status_code == 303 and response.headers["location"].startswith("/inbox"):
        response = http.get(response.headers["location"])
    assert response.status_code == 303, response.text
    authorize = response.headers["location"]
    assert authorize.startswith(f"{idp.url}/oauth2/authorize?")
    form = httpx.get(authorize)
    assert form.status_code == 200 and 'name="sub"' in form.text  # the provider's login form
    back = httpx.post(authorize, data={"sub": sub})
    assert back.status_code == 302, back.text
    callback = back.headers["location"]
    assert callback.startswith(f"{str(http.base_url).rstrip('/')}/inbox/auth/callback?")
    return http.get(callback)


def oidc(idp: MockProvider, clock: Any = time.time) -> OidcConfig:
    return OidcConfig(
        issuer=idp.url,
        client_id="interlock-inbox",
        client_secret="inbox-secret",  # (the mock takes no public clients)
        roles_claim="roles",
        clock=clock,
    )


def test_a_person_signs_in_and_decides_under_their_sub(idp: MockProvider) -> None:
    idp.set_user(
        "ada-0001",
        {"name": "Ada Lovelace", "email": "ada@example.com", "groups": ["finance"],
         "roles": ["approver"]},
    )  # fmt: skip
    saver = InMemorySaver()
    graph = ask_graph(saver, approvers=["group:finance"])
    keys = ApiKeys.parse("k-bob=bob:requester")
    with served(create_app(graph, keys=keys, oidc=oidc(idp))) as http:
        made = http.post("/v1/threads", json={"input": {}}, headers={"X-API-Key": "k-bob"})
        iid = made.json()["run"]["interrupts"][0]["id"]
        first = http.get(f"/inbox/{iid}")  # not signed in: the sign-in page, then back here
        assert first.status_code == 303
        assert first.headers["location"] == f"/inbox/login?next=%2Finbox%2F{iid}"
        page = http.get(first.headers["location"]).text
        assert "Sign in with your company account" in page and 'name="key"' in page
        start = re.search(r'id="signin" href="([^"]+)"', page)
        assert start is not None
        begun = http.get(start.group(1).replace("&amp;", "&"))
        assert begun.status_code == 303
        note = begun.headers["set-cookie"]
        assert note.startswith("interlock_signin=") and "SameSite=lax" in note
        query = parse_qs(urlsplit(begun.headers["location"]).query)
        assert query["code_challenge_method"] == ["S256"]
        assert query["redirect_uri"] == [f"{str(http.base_url).rstrip('/')}/inbox/auth/callback"]
        assert query["scope"] == ["openid profile email"] and query["nonce"][0]
        assert "prompt" not in query and "max_age" not in query
        back = httpx.post(begun.headers["location"], data={"sub": "ada-0001"})
        signed = http.get(back.headers["location"])
        assert signed.status_code == 303 and signed.headers["location"] == f"/inbox/{iid}"
        session = signed.headers["set-cookie"]
        assert "HttpOnly" in session and "SameSite=lax" in session and "Max-Age=43200" in session
        # PKCE: the verifier sent with the code hashes to the challenge sent to the browser
        [exchange] = idp.token_requests[-1:]
        digest = hashlib.sha256(exchange["code_verifier"][0].encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).decode().rstrip("=")
        assert query["code_challenge"] == [challenge]
        page = http.get(f"/inbox/{iid}").text
        assert "Ada Lovelace" in page  # shown by name
        done = http.post(
            f"/inbox/{iid}", data={"csrf": csrf(page), "form": "answer", "answer": '"paid"'}
        )
        assert done.status_code == 303, done.text
        record = saver.get_interrupt(iid)
        assert record is not None and record.decided_by == "ada-0001" and record.resume == "paid"
        [proof] = [
            e
            for e in saver.list_audit(interrupt_id=iid).items
            if e.action == "approval.authenticated"
        ]
        assert proof.detail["credential"] == "session" and proof.detail["auth_time"]
        # sign-out ends the session
        page = http.get("/inbox").text
        out = http.post("/inbox/logout", data={"csrf": csrf(page)})
        assert out.headers["location"] == "/inbox/login?out=1"
        assert http.get("/inbox").status_code == 303


def test_groups_outside_the_rule_do_not_decide(idp: MockProvider) -> None:
    idp.set_user("eve-0002", {"groups": ["sales"], "roles": ["approver"]})
    saver = InMemorySaver()
    graph = ask_graph(saver, approvers=["group:finance"])
    with served(create_app(graph, oidc=oidc(idp))) as http:
        iid = http.post("/v1/threads", json={"input": {}}, headers={"Authorization": "Bearer none"})
        assert iid.status_code == 401  # with a provider, nobody is anonymous
        graph.invoke({}, {"configurable": {"thread_id": "t1"}})
        [record] = saver.list_interrupts(status="pending").items
        # only OIDC: the inbox goes straight to the provider, and back to the request
        signed = through_provider(http, idp, f"/inbox/{record.interrupt_id}", "eve-0002")
        assert signed.headers["location"] == f"/inbox/{record.interrupt_id}"
        page = http.get(f"/inbox/{record.interrupt_id}").text
        refused = http.post(
            f"/inbox/{record.interrupt_id}",
            data={"csrf": csrf(page), "form": "answer", "answer": "1"},
        )
        assert refused.status_code == 403 and "group:finance" in refused.text
        assert saver.get_interrupt(record.interrupt_id).status == "pending"  # type: ignore[union-attr]


def test_an_expired_session_returns_to_the_page_after_signing_in(idp: MockProvider) -> None:
    idp.set_user("ada-0001", {"roles": ["approver"], "groups": ["finance"]})
    clock = Clock()
    saver = InMemorySaver()
    graph = ask_graph(saver)
    with served(create_app(graph, oidc=oidc(idp, clock))) as http:
        graph.invoke({}, {"configurable": {"thread_id": "t1"}})
        [record] = saver.list_interrupts(status="pending").items
        iid = record.interrupt_id
        through_provider(http, idp, "/inbox", "ada-0001")
        page = http.get(f"/inbox/{iid}").text
        clock.offset = 13 * 3600  # the 12-hour session ends while the form is open
        late = http.post(
            f"/inbox/{iid}", data={"csrf": csrf(page), "form": "answer", "answer": "1"}
        )
        assert late.status_code == 303
        assert late.headers["location"] == f"/inbox/login/oidc?next=%2Finbox%2F{iid}"
        assert saver.get_interrupt(iid).status == "pending"  # type: ignore[union-attr]
        clock.offset = 0  # (the provider's fresh tokens are checked against the real time)
        back = through_provider(http, idp, late.headers["location"], "ada-0001")
        assert back.headers["location"] == f"/inbox/{iid}"
        assert http.get(f"/inbox/{iid}").status_code == 200


def test_a_risky_decision_sends_the_person_through_the_provider_again(idp: MockProvider) -> None:
    old = int(time.time()) - 3600
    idp.set_user("ada-0001", {"roles": ["approver"], "auth_time": old, "amr": ["pwd"]})
    saver = InMemorySaver()
    graph = ask_graph(saver, max_auth_age=300)
    with served(create_app(graph, oidc=oidc(idp))) as http:
        graph.invoke({}, {"configurable": {"thread_id": "t1"}})
        [record] = saver.list_interrupts(status="pending").items
        iid = record.interrupt_id
        through_provider(http, idp, "/inbox", "ada-0001")  # signed in an hour ago
        page = http.get(f"/inbox/{iid}").text
        assert "within the last 300 s" in page  # said before the person fills the form
        form = {"csrf": csrf(page), "form": "answer", "answer": '"go"'}
        again = http.post(f"/inbox/{iid}", data=form)
        assert again.status_code == 303
        assert again.headers["location"] == f"/inbox/login/oidc?next=%2Finbox%2F{iid}&max_age=300"
        assert saver.get_interrupt(iid).status == "pending"  # type: ignore[union-attr]
        to_provider = http.get(again.headers["location"])
        query = parse_qs(urlsplit(to_provider.headers["location"]).query)
        assert query["prompt"] == ["login"] and query["max_age"] == ["300"]
        # a provider that does not really sign the person in again is not believed
        back = httpx.post(to_provider.headers["location"], data={"sub": "ada-0001"})
        stale = http.get(back.headers["location"])
        assert stale.status_code == 401 and "did not sign you in again" in stale.text
        # now the provider authenticates her again (its own time), with a second factor
        idp.set_user("ada-0001", {"roles": ["approver"], "amr": ["pwd", "otp"]})
        back = through_provider(http, idp, again.headers["location"], "ada-0001")
        assert back.headers["location"] == f"/inbox/{iid}"
        page = http.get(f"/inbox/{iid}").text
        assert "within the last 300 s" not in page
        done = http.post(f"/inbox/{iid}", data={**form, "csrf": csrf(page)})
        assert done.status_code == 303 and done.headers["location"].startswith("/inbox?done=")
    record = saver.get_interrupt(iid)
    assert record is not None and record.decided_by == "ada-0001"
    [proof] = [
        e for e in saver.list_audit(interrupt_id=iid).items if e.action == "approval.authenticated"
    ]
    assert proof.detail["amr"] == ["pwd", "otp"] and proof.detail["max_auth_age"] == 300
    assert proof.detail["auth_time"] > time.strftime("%Y-%m-%dT%H:%M", time.gmtime(old + 60))


def test_a_refused_or_forged_callback_opens_no_session(idp: MockProvider) -> None:
    idp.set_user("ada-0001", {"roles": ["approver"]})
    with served(create_app(ask_graph(InMemorySaver()), oidc=oidc(idp))) as http:
        begun = http.get("/inbox/login/oidc?next=https://evil.example/")
        authorize = begun.headers["location"]
        denied = httpx.post(authorize, data={"action": "deny"})
        refused = http.get(denied.headers["location"])
        assert refused.status_code == 401 and "refused the sign-in" in refused.text
        assert "interlock_session" not in refused.headers.get("set-cookie", "")
        http.get("/inbox/login/oidc")
        forged = http.get("/inbox/auth/callback?code=abc&state=not-mine")
        assert forged.status_code == 400 and "state does not match" in forged.text
        http.cookies.clear()
        lost = http.get("/inbox/auth/callback?code=abc&state=x")
        assert lost.status_code == 400
        # a `next` outside the inbox is replaced by the inbox
        back = through_provider(http, idp, "/inbox/login/oidc?next=//evil.example/", "ada-0001")
        assert back.headers["location"] == "/inbox"


def test_behind_a_proxy_the_public_url_makes_the_redirect_and_secure_cookies(
    idp: MockProvider,
) -> None:
    cfg = OidcConfig(
        issuer=idp.url,
        client_id="interlock-inbox",
        client_secret="inbox-secret",
        public_url="https://interlock.example.com/",
    )
    with served(create_app(ask_graph(InMemorySaver()), oidc=cfg)) as http:
        begun = http.get("/inbox/login/oidc?next=/inbox/abc")
        query = parse_qs(urlsplit(begun.headers["location"]).query)
        assert query["redirect_uri"] == ["https://interlock.example.com/inbox/auth/callback"]
        assert "Secure" in begun.headers["set-cookie"]


def test_a_key_login_also_returns_to_the_page_it_interrupted() -> None:
    keys = ApiKeys.parse("k-ada=ada:approver")
    with served(create_app(ask_graph(InMemorySaver()), keys=keys)) as http:
        away = http.get("/inbox/some-request")
        assert away.headers["location"] == "/inbox/login?next=%2Finbox%2Fsome-request"
        page = http.get(away.headers["location"]).text
        assert 'name="next" value="/inbox/some-request"' in page and 'id="signin"' not in page
        back = http.post("/inbox/login", data={"key": "k-ada", "next": "/inbox/some-request"})
        assert back.status_code == 303 and back.headers["location"] == "/inbox/some-request"
        elsewhere = http.post("/inbox/login", data={"key": "k-ada", "next": "https://evil/"})
        assert elsewhere.headers["location"] == "/inbox"


def test_more_groups_than_a_session_holds_is_said_not_looped(idp: MockProvider) -> None:
    many = [f"team-{i:04d}-with-a-long-name" for i in range(300)]
    idp.set_user("big-0003", {"roles": ["approver"], "groups": many})
    with served(create_app(ask_graph(InMemorySaver()), oidc=oidc(idp))) as http:
        refused = through_provider(http, idp, "/inbox", "big-0003")
        assert refused.status_code == 431 and "300 groups" in refused.text
        assert "interlock_session" not in refused.headers.get("set-cookie", "")
