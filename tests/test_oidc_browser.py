"""A full sign-in in a real browser: Debian's Chromium (Playwright) opens the inbox on
`127.0.0.1`, is sent to the OpenID provider on `localhost` (oidc-provider-mock: another site,
so the way back is a cross-site redirect, as with a real provider), signs in, comes back
signed in, and approves a tool call that only the `finance` group may approve — recorded
under the person's `sub`. Then a risky request (`max_auth_age`) takes the person through the
provider again before the decision is accepted."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from interlock import AIMessage, create_agent, tool
from interlock.agent.models.scripted import ScriptedChatModel
from interlock.checkpoint.sqlite import SqliteSaver
from interlock.server import ApiKeys, create_app
from interlock.server.oidc import OidcConfig
from tests._http import served
from tests._oidc import MOCK_WARNINGS, MockProvider, mock_provider

pytestmark = [pytest.mark.slow, *MOCK_WARNINGS]

ran: list[str] = []
lock = threading.Lock()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        if os.environ.get("CI") == "true":
            raise RuntimeError("Chromium is required under CI=true: bash scripts/ensure-chromium")
        pytest.skip("Chromium is not installed (bash scripts/ensure-chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def idp() -> Iterator[MockProvider]:
    with mock_provider() as provider:
        yield provider


@tool
def pay_invoice(invoice: str) -> str:
    """Pay an invoice.

    Args:
        invoice: The invoice number.
    """
    with lock:
        ran.append(invoice)
    return f"paid {invoice}"


def _agent(saver: Any, policy: dict[str, Any]) -> Any:
    model = ScriptedChatModel(
        [
            AIMessage(
                content="",
                tool_calls=[{"name": "pay_invoice", "args": {"invoice": "INV-7"}, "id": "c1"}],
            ),
            "Paid.",
        ]
    )
    return create_agent(
        model=model,
        tools=[pay_invoice],
        checkpointer=saver,
        interrupt_on={"pay_invoice": policy},
    )


def _config(idp: MockProvider) -> OidcConfig:
    return OidcConfig(
        issuer=idp.url,
        client_id="interlock-inbox",
        client_secret="inbox-secret",
        roles_claim="roles",
    )


def _sign_in_at_provider(page: Any, idp: MockProvider, sub: str) -> None:
    page.wait_for_url(f"{idp.url}/oauth2/authorize?*")
    page.fill("input[name=sub]", sub)
    page.click("button:has-text('Authorize')")


def test_a_person_signs_in_in_the_browser_and_approves(
    browser: Any, idp: MockProvider, tmp_path: Path
) -> None:
    ran.clear()
    idp.set_user(
        "00u-ada",
        {"name": "Ada Lovelace", "groups": ["finance"], "roles": ["approver"]},
    )
    saver = SqliteSaver(tmp_path / "inbox.db")
    agent = _agent(saver, {"approvers": ["group:finance"]})
    keys = ApiKeys.parse("k-bob=bob:requester")
    with served(create_app({"payer": agent}, keys=keys, oidc=_config(idp))) as http:
        made = http.post("/v1/threads", json={"message": "pay it"}, headers={"X-API-Key": "k-bob"})
        iid = made.json()["run"]["interrupts"][0]["id"]
        base = str(http.base_url).rstrip("/")
        page = browser.new_page()
        page.goto(f"{base}/inbox")
        page.wait_for_url(f"{base}/inbox/login")
        page.click("#signin")
        _sign_in_at_provider(page, idp, "00u-ada")
        page.wait_for_url(f"{base}/inbox")  # back, signed in: the session survived the trip
        assert "Ada Lovelace" in page.inner_text("header")
        cookies = {c["name"]: c for c in page.context.cookies(base)}
        assert cookies["interlock_session"]["sameSite"] == "Lax"
        assert cookies["interlock_session"]["httpOnly"]
        page.click("a.act:has-text('pay_invoice')")
        page.click("#do-approve")
        page.wait_for_url(f"{base}/inbox?done=*")
        assert "Decision sent" in page.inner_text("main")
        page.click("text=Sign out")
        page.wait_for_url(f"{base}/inbox/login?out=1")
        page.close()
    record = saver.get_interrupt(iid)
    assert record is not None and record.decided_by == "00u-ada"
    assert ran == ["INV-7"]
    saver.close()


def test_a_risky_approval_asks_the_provider_again_in_the_browser(
    browser: Any, idp: MockProvider, tmp_path: Path
) -> None:
    ran.clear()
    signed_long_ago = int(time.time()) - 7200
    idp.set_user("00u-ada", {"roles": ["approver"], "auth_time": signed_long_ago})
    saver = SqliteSaver(tmp_path / "risky.db")
    agent = _agent(saver, {"max_auth_age": 300})
    with served(create_app({"payer": agent}, oidc=_config(idp))) as http:
        agent.invoke({"messages": [("user", "pay it")]}, {"configurable": {"thread_id": "t"}})
        [record] = saver.list_interrupts(status="pending").items
        base = str(http.base_url).rstrip("/")
        page = browser.new_page()
        page.goto(f"{base}/inbox/{record.interrupt_id}")  # straight to the provider, and back
        _sign_in_at_provider(page, idp, "00u-ada")
        page.wait_for_url(f"{base}/inbox/{record.interrupt_id}")
        assert "within the last 300 s" in page.inner_text("main")
        idp.set_user("00u-ada", {"roles": ["approver"], "amr": ["pwd", "mfa"]})
        page.click("#do-approve")
        assert ran == []
        _sign_in_at_provider(page, idp, "00u-ada")  # the provider asks again
        page.wait_for_url(f"{base}/inbox/{record.interrupt_id}")
        assert "within the last 300 s" not in page.inner_text("main")
        page.click("#do-approve")
        page.wait_for_url(f"{base}/inbox?done=*")
        page.close()
    assert ran == ["INV-7"]
    proof = [
        e
        for e in saver.list_audit(interrupt_id=record.interrupt_id).items
        if e.action == "approval.authenticated"
    ]
    assert [e.detail["amr"] for e in proof] == [["pwd", "mfa"]]
    saver.close()
