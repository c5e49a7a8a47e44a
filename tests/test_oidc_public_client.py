"""A public client (no secret: PKCE alone, as a single-page app or a desktop's would be
registered) signs people in to the inbox. The loopback issuer of tests/_oidc.py plays the
provider here, because oidc-provider-mock registers confidential clients only: it checks
the code, the client, the redirect and the PKCE verifier as a provider does."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from interlock import InMemorySaver
from interlock.server import create_app
from interlock.server.oidc import OidcConfig, TokenRejected
from tests._http import served
from tests._oidc import Issuer
from tests.test_oidc_tokens import ask_graph


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    made = Issuer()
    try:
        yield made
    finally:
        made.close()


def public(issuer: Issuer) -> OidcConfig:
    return OidcConfig(
        issuer=issuer.url, client_id="inbox-spa", client_secret=None, default_roles=("approver",)
    )


def test_a_public_client_signs_a_person_in_with_pkce_and_no_secret(issuer: Issuer) -> None:
    issuer.claims = {"name": "Ada Lovelace"}
    app = create_app(ask_graph(InMemorySaver()), oidc=public(issuer))
    with served(app) as http:
        page = http.get("/inbox/login").text
        start = re.search(r'id="signin" href="([^"]+)"', page)
        assert start is not None
        begun = http.get(start.group(1).replace("&amp;", "&"))
        assert begun.status_code == 303
        authorize = begun.headers["location"]
        query = parse_qs(urlsplit(authorize).query)
        assert query["client_id"] == ["inbox-spa"] and query["code_challenge_method"] == ["S256"]
        back = httpx.get(authorize)  # the provider signs the person in and sends them back
        assert back.status_code == 302
        signed = http.get(back.headers["location"])
        assert signed.status_code == 303, signed.text
        assert "interlock_session=" in signed.headers["set-cookie"]
        assert "Ada Lovelace" in http.get("/inbox").text
    [(form, authorization)] = issuer.token_requests
    assert authorization is None  # no client authentication: there is no secret to send
    assert "client_secret" not in form
    assert form["client_id"] == ["inbox-spa"] and form["code_verifier"][0]


def test_a_public_client_without_the_verifier_gets_no_session(issuer: Issuer) -> None:
    provider = public(issuer).connect()
    redirect = "http://127.0.0.1:1/inbox/auth/callback"
    url = provider.authorization_url(redirect, state="s", nonce="n", code_verifier="v" * 50)
    back = httpx.get(url)
    code = parse_qs(urlsplit(back.headers["location"]).query)["code"][0]
    with pytest.raises(TokenRejected, match="refused the sign-in"):
        provider.exchange(redirect, code=code, code_verifier="w" * 50, nonce="n")
    assert len(issuer.token_requests) == 1  # it asked, and the provider said no
