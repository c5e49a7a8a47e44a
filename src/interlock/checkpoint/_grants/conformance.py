"""Standing grants: the part of the store conformance suite for their room
(`SaverConformance` includes every part)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from interlock.checkpoint._grants.protocol import Grant
from interlock.checkpoint._testkit import StoreTests
from interlock.checkpoint.base import BaseSaver

__all__ = ["GrantsConformance"]


def _grant(grant_id: str, **kw: object) -> Grant:
    return Grant(
        grant_id=grant_id,
        agent=str(kw.pop("agent", "pay")),
        tool=str(kw.pop("tool", "send")),
        granted_by="ada",
        created_at=datetime.now(UTC),
        **kw,  # type: ignore[arg-type]
    )


class GrantsConformance(StoreTests):
    """Grant tests every store passes. Subclasses provide a `saver` fixture."""

    def test_a_grant_is_used_once_per_call_and_up_to_its_uses(self, saver: BaseSaver) -> None:
        now = datetime.now(UTC)
        g = saver.add_grant(
            _grant("g1", match={"kind": "exact", "args": {"to": "bo"}}, uses_left=2)
        )
        assert saver.get_grant("g1") == g
        assert saver.use_grant("g1", call_id="c1", thread_id="t", now=now)
        assert saver.use_grant("g1", call_id="c1", thread_id="t", now=now)  # replayed: free
        stored = saver.get_grant("g1")
        assert stored is not None and stored.uses_left == 1
        assert saver.use_grant("g1", call_id="c2", thread_id="t", now=now)
        assert not saver.use_grant("g1", call_id="c3", thread_id="t", now=now)  # used up
        assert saver.list_grants(active_at=now) == ()
        assert [x.grant_id for x in saver.list_grants(active_at=None)] == ["g1"]
        assert not saver.use_grant("nope", call_id="c4", thread_id="t", now=now)
        actions = [e.action for e in saver.list_audit(after="").items]
        assert actions == ["grant.created", "grant.used", "grant.used"]
        used = saver.list_audit(thread_id="t").items[0]
        assert used.actor == "ada" and used.detail == {
            "grant_id": "g1",
            "tool": "send",
            "call_id": "c2",
        }

    def test_grants_expire_and_are_revoked(self, saver: BaseSaver) -> None:
        now = datetime.now(UTC)
        saver.add_grant(_grant("soon", expires_at=now + timedelta(hours=1)))
        saver.add_grant(_grant("other", agent="ops", tool="reboot"))
        assert [g.grant_id for g in saver.list_grants(agent="pay", active_at=now)] == ["soon"]
        assert [g.grant_id for g in saver.list_grants(tool="reboot", active_at=now)] == ["other"]
        later = now + timedelta(hours=2)
        assert not saver.use_grant("soon", call_id="c", thread_id=None, now=later)
        assert saver.list_grants(agent="pay", active_at=later) == ()
        revoked = saver.revoke_grant("other", revoked_by="cy")
        assert revoked is not None and revoked.revoked_by == "cy" and revoked.revoked_at
        again = saver.revoke_grant("other", revoked_by="dan")
        assert again is not None and again.revoked_by == "cy"  # the first revocation stays
        assert saver.revoke_grant("missing", revoked_by="cy") is None
        assert not saver.use_grant("other", call_id="c", thread_id=None, now=now)
        actions = [e.action for e in saver.list_audit(after="").items]
        assert actions == ["grant.created", "grant.created", "grant.revoked"]
