"""Standing grants on the `/v1` API: "approve and allow similar for an hour".

- `POST /v1/approvals/{id}/decision` with `"grant": {"expires_in", "uses", "match"}`: after
  the decision, one grant per tool call the decision approved as asked, for the request's
  agent, by the person deciding (who may approve that agent's tool: they just did). `match`
  defaults to the call's exact arguments.
- `POST /v1/grants` (admin): a grant for any agent and tool.
- `GET /v1/grants` (approver): grants, active ones by default.
- `DELETE /v1/grants/{grant_id}` (its granter or an admin): revoke; the next call pauses.

Who may grant: a person may grant only what they may approve — from a decision, the calls
they just approved (their approver rules were checked by the decision); directly, only an
admin. A covered call runs without pausing, so no request exists for it: the agent checks
grants before it asks (`interlock.agent.grants`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from fastapi import Depends, FastAPI, Query
from pydantic import BaseModel, ConfigDict, Field

from interlock.agent.grants import approved_actions
from interlock.checkpoint.base import BaseSaver, Grant, InterruptRecord
from interlock.server._errors import ApiError, error_responses
from interlock.server.auth import Principal

__all__ = [
    "GrantTerms",
    "decide_with_grants",
    "grant_view",
    "grants_from_decision",
    "mount_grants",
]

MAX_SECONDS = 366 * 24 * 3600


class GrantMatch(BaseModel):
    """Which arguments a grant covers."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["any", "exact", "schema", "predicate"]
    args: dict[str, Any] | None = Field(None, description="for `exact`: these keys, these values")
    schema_: dict[str, Any] | None = Field(
        None, alias="schema", description="for `schema`: a JSON schema the arguments match"
    )
    name: str | None = Field(
        None, max_length=200, description="for `predicate`: a predicate the agent registered"
    )

    def as_match(self) -> dict[str, Any]:
        """The store's form."""
        if self.kind == "exact":
            return {"kind": "exact", "args": self.args or {}}
        if self.kind == "schema":
            return {"kind": "schema", "schema": self.schema_ or {}}
        if self.kind == "predicate":
            if not self.name:
                raise ApiError(422, "invalid_request", "a predicate grant needs `name`")
            return {"kind": "predicate", "name": self.name}
        return {"kind": "any"}


class GrantTerms(BaseModel):
    """How long and how often a grant stands."""

    model_config = ConfigDict(extra="forbid")
    expires_in: int | None = Field(
        3600, ge=1, le=MAX_SECONDS, description="seconds from now (null: until revoked)"
    )
    uses: int | None = Field(None, ge=1, le=1_000_000, description="calls it covers (null: any)")
    match: GrantMatch | None = Field(None, description="default: the call's exact arguments")


class GrantBody(GrantTerms):
    """A grant made directly (admin)."""

    agent: str = Field(..., min_length=1, max_length=256)
    tool: str = Field(..., min_length=1, max_length=256)


def grant_view(g: Grant) -> dict[str, Any]:
    """A grant as the API shows it."""
    return {
        "grant_id": g.grant_id,
        "agent": g.agent,
        "tool": g.tool,
        "match": dict(g.match),
        "granted_by": g.granted_by,
        "created_at": g.created_at.isoformat(),
        "expires_at": g.expires_at.isoformat() if g.expires_at else None,
        "uses_left": g.uses_left,
        "revoked_at": g.revoked_at.isoformat() if g.revoked_at else None,
        "revoked_by": g.revoked_by,
        "interrupt_id": g.interrupt_id,
        "active": g.active(datetime.now(UTC)),
    }


def _new(
    saver: BaseSaver,
    *,
    agent: str,
    tool: str,
    match: dict[str, Any],
    terms: GrantTerms,
    who: Principal,
    interrupt_id: str | None,
) -> Grant:
    now = datetime.now(UTC)
    until = None if terms.expires_in is None else now + timedelta(seconds=terms.expires_in)
    return saver.add_grant(
        Grant(
            grant_id=uuid.uuid4().hex,
            agent=agent,
            tool=tool,
            match=match,
            granted_by=who.name,
            created_at=now,
            expires_at=until,
            uses_left=terms.uses,
            interrupt_id=interrupt_id,
        )
    )


def grants_from_decision(
    saver: BaseSaver, record: InterruptRecord, value: Any, terms: GrantTerms, who: Principal
) -> list[Grant]:
    """The grants a decision's `grant` terms make, once the decision is authorised and
    before the run resumes: one per call approved as asked. 422 if it approves none."""
    actions = approved_actions(record.value, value)
    agent = record.metadata.get("graph")
    if not actions or not agent:
        raise ApiError(422, "invalid_grant", "a grant needs an agent's tool call approved as asked")
    return [
        _new(
            saver,
            agent=str(agent),
            tool=str(a["name"]),
            match=terms.match.as_match() if terms.match else {"kind": "exact", "args": a["args"]},
            terms=terms,
            who=who,
            interrupt_id=record.interrupt_id,
        )
        for a in actions
    ]


def decide_with_grants(
    decide: Callable[..., dict[str, Any]],
    saver: BaseSaver,
    value: Any,
    terms: GrantTerms | None,
    who: Principal,
) -> dict[str, Any]:
    """Run `decide(before_resume=...)` (`decide_request` with its other arguments bound),
    making the grants of `terms` after the decision is authorised and before the run
    resumes (so that the resumed run already uses them); revoked again if the decision
    fails after all. The answer gains `grants`."""
    if terms is None:
        return decide()
    made: list[Grant] = []

    def make(record: InterruptRecord) -> None:
        if isinstance(record.metadata.get("quorum"), int):
            raise ApiError(
                422,
                "invalid_decision",
                "a standing grant cannot stand in for a quorum: this request needs "
                f"{record.metadata['quorum']} approvals each time",
            )
        made.extend(grants_from_decision(saver, record, value, terms, who))

    try:
        decided = decide(before_resume=make)
    except BaseException:
        for g in made:
            saver.revoke_grant(g.grant_id, revoked_by=who.name)
        raise
    decided["grants"] = [grant_view(g) for g in made]
    return decided


def mount_grants(
    app: FastAPI,
    *,
    saver: BaseSaver,
    principal: Callable[..., Principal],
    need: Callable[..., None],
) -> None:
    """Add `POST /v1/grants`, `GET /v1/grants`, `DELETE /v1/grants/{grant_id}`."""

    @app.post(
        "/v1/grants",
        tags=["grants"],
        status_code=201,
        responses=error_responses(401, 403, 413, 422, 503),
    )
    def create(body: GrantBody, who: Principal = Depends(principal)) -> dict[str, Any]:
        """Grant an agent's tool calls matching `match` without a person's review."""
        need(who, "admin")
        match = body.match.as_match() if body.match else {"kind": "any"}
        return grant_view(
            _new(
                saver,
                agent=body.agent,
                tool=body.tool,
                match=match,
                terms=body,
                who=who,
                interrupt_id=None,
            )
        )

    @app.get("/v1/grants", tags=["grants"], responses=error_responses(401, 403, 422, 503))
    def listing(
        agent: str | None = Query(None, min_length=1, max_length=256),
        tool: str | None = Query(None, min_length=1, max_length=256),
        active: bool = Query(True, description="only grants that still cover calls"),
        who: Principal = Depends(principal),
    ) -> dict[str, Any]:
        """Grants oldest first."""
        need(who, "approver", "admin")
        found = saver.list_grants(
            agent=agent, tool=tool, active_at=datetime.now(UTC) if active else None
        )
        return {"grants": [grant_view(g) for g in found]}

    @app.delete(
        "/v1/grants/{grant_id}",
        tags=["grants"],
        responses=error_responses(401, 403, 404, 422, 503),
    )
    def revoke(grant_id: str, who: Principal = Depends(principal)) -> dict[str, Any]:
        """Revoke a grant: the next call it would have covered pauses again."""
        grant = saver.get_grant(grant_id) if len(grant_id) <= 64 else None
        if grant is None:
            raise ApiError(404, "unknown_grant", f"no grant {grant_id!r}")
        if grant.granted_by != who.name and not who.can("admin"):
            raise ApiError(403, "forbidden", "only its granter or an admin may revoke a grant")
        revoked = saver.revoke_grant(grant_id, revoked_by=who.name)
        assert revoked is not None
        return grant_view(revoked)
