"""The inbox and the thread lists at scale: server time of the listing endpoints on a store
holding PAUSED threads waiting for a person (one pending request each) and DONE finished
threads (ten decided requests each), on SQLite and PostgreSQL.

    python bench/inbox_scale.py --db sqlite --paused 100000 --done 100000
    python bench/inbox_scale.py --db postgresql://postgres@127.0.0.1:5432/test \
        --paused 100000 --done 100000

How the store is filled: the real service writes two template threads on the fresh store
(`bench/_scale_template.py`: one paused, one that asked ten questions, all decided, and
finished), then bulk SQL copies every row those threads have in `threads`, `heads`,
`checkpoints`, `task_writes`, `interrupts`, `pending_approvers` and `thread_meta` once per
copy, renaming what identifies them (thread and request ids, requester, agent, tenant,
approver rule) and shifting their times. Not copied: the audit log, the run queue's records
and the run event log (none of the measured reads touch them). The copies are then read
back with the store's own functions and the registered graph (`get_state`), which must
give what the template gave, renamed.

Shape: requesters `user0..user999` (one in a thousand threads each); agents
`agent0..agent9`; tenants `tenant0..tenant99` (thread metadata); approver rules: `["rare"]`
on one request in a hundred, `["group:ops"]` on the others.

Measured in-process (the app from `create_app`, called through Starlette's TestClient; the
time is taken inside the ASGI app, from the request's arrival to the last byte of its
response: the server's time, not the client's): each endpoint `--calls` times after
`--warm` calls, median and p95 in ms.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from html import unescape as html_unescape
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._scale_template import (  # noqa: E402
    AGENT,
    ASKS,
    DONE,
    KEYS,
    PAUSED,
    assistant_uuid,
    graph,
    make_templates,
)
from interlock.checkpoint.base import ThreadQuery  # noqa: E402

TABLES = (
    "threads",
    "heads",
    "checkpoints",
    "task_writes",
    "interrupts",
    "pending_approvers",
    "thread_meta",
)
TIMES = {"created_at", "updated_at", "decided_at", "deadline", "at"}
REQUESTERS, AGENTS, TENANTS = 1000, 10, 100
MEASURE_KEYS = KEYS + ";k-u20=user20:requester"


# ---- filling ---------------------------------------------------------------------------


class Filler:
    """Copies the template threads with SQL (see the module docstring)."""

    def __init__(self, saver: Any) -> None:
        self.saver = saver
        self.pg = saver.dialect.name == "postgres"

    def _conn(self) -> Any:
        if self.pg:
            import psycopg

            conn = psycopg.connect(self.saver._dsn, autocommit=True)
            conn.execute(f'SET search_path TO "{self.saver.schema}"')
            conn.execute("SET synchronous_commit TO off")
            return conn
        import sqlite3

        return sqlite3.connect(self.saver.path, isolation_level=None)

    def _columns(self, conn: Any, table: str) -> list[tuple[str, str]]:
        if self.pg:
            rows = conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                (self.saver.schema, table),
            ).fetchall()
        else:
            rows = [(r[1], r[2]) for r in conn.execute(f"PRAGMA table_info({table})")]
        return [(str(n), str(t).lower()) for n, t in rows]

    def _hex(self, g: str) -> str:
        return f"lpad(to_hex({g}), 12, '0')" if self.pg else f"printf('%012x', {g})"

    def _renames(self, conn: Any, template: str, prefix: str) -> list[tuple[str, str]]:
        """(literal, SQL expression over the copy number `g`) pairs to replace."""
        ph = "%s" if self.pg else "?"
        ids = [
            r[0]
            for r in conn.execute(
                f"SELECT interrupt_id FROM interrupts WHERE thread_id = {ph}", (template,)
            ).fetchall()
        ]
        assert len({i[:20] for i in ids}) == len(ids)
        uuids = " ".join(f"WHEN {n} THEN '{assistant_uuid(f'agent{n}')}'" for n in range(AGENTS))
        return [
            (template, f"'{prefix}' || g"),
            *((i, f"'{i[:20]}' || {self._hex('g')}") for i in ids),
            ("tplrequester", f"'user' || (g % {REQUESTERS})"),
            (assistant_uuid(AGENT), f"(CASE g % {AGENTS} {uuids} END)"),
            (AGENT, f"'agent' || (g % {AGENTS})"),
            ("tpltenant", f"'tenant' || (g % {TENANTS})"),
            ("tplapprover", "(CASE WHEN g % 100 = 0 THEN 'rare' ELSE 'group:ops' END)"),
        ]

    def _expr(self, name: str, kind: str, renames: list[tuple[str, str]], shift: str) -> str:
        if name in TIMES:
            if self.pg:
                return f"tpl.{name} + ({shift}) * interval '1 second'"
            return (
                f"strftime('%Y-%m-%dT%H:%M:%S', substr(tpl.{name}, 1, 19), "
                f"printf('%+d seconds', {shift})) || substr(tpl.{name}, 20)"
            )
        if name == "waiting":  # the copies' requests count themselves (a trigger)
            return "0"
        if name == "decided_by":
            return "CASE WHEN tpl.decided_by IS NULL THEN NULL ELSE 'opsperson' END"
        numeric = ("int", "real", "double", "numeric", "bigint")
        if any(n in kind for n in numeric):
            return f"tpl.{name}"
        expr = f"tpl.{name}::text" if self.pg else f"tpl.{name}"
        for old, new in renames:
            expr = f"replace({expr}, '{old}', {new})"
        return f"({expr})::jsonb" if self.pg and kind == "jsonb" else expr

    def copy(self, template: str, prefix: str, first: int, last: int, shift: str) -> None:
        """Copies `first..last` of `template` (thread ids `<prefix><g>`), times shifted by
        `shift` seconds (an SQL expression over `g`)."""
        conn = self._conn()
        try:
            renames = self._renames(conn, template, prefix)
            for table in TABLES:
                cols = self._columns(conn, table)
                names = ", ".join(n for n, _ in cols)
                exprs = ", ".join(self._expr(n, k, renames, shift) for n, k in cols)
                if self.pg:
                    params = ()
                    sql = (
                        f"INSERT INTO {table} ({names}) SELECT {exprs} FROM {table} tpl, "
                        f"generate_series({int(first)}, {int(last)}) s(g) "
                        f"WHERE tpl.thread_id = '{template}'"
                    )
                else:
                    params = (first, last)
                    sql = (
                        "WITH RECURSIVE s(g) AS (SELECT ? UNION ALL SELECT g + 1 FROM s "
                        f"WHERE g < ?) INSERT INTO {table} ({names}) SELECT {exprs} "
                        f"FROM {table} tpl, s WHERE tpl.thread_id = '{template}'"
                    )
                    conn.execute("BEGIN")
                conn.execute(sql, params or None)
                if not self.pg:
                    conn.execute("COMMIT")
        finally:
            conn.close()

    def analyze(self) -> None:
        conn = self._conn()
        try:
            if self.pg:
                for table in TABLES:
                    conn.execute(f"VACUUM ANALYZE {table}")
            else:
                conn.execute("ANALYZE")
        finally:
            conn.close()


def fill(saver: Any, paused: int, done: int, budget: float, chunk: int) -> tuple[int, int]:
    """Copy up to `paused` / `done` threads in chunks while `budget` seconds last; returns
    how many of each were copied."""
    filler = Filler(saver)
    start = time.monotonic()
    made = {"p": 0, "d": 0}
    plan = [
        ("p", PAUSED, paused, f"g - {paused + 10}"),
        ("d", DONE, done, f"g - {paused + done + 10}"),
    ]
    # interleaved, so that a budget cut leaves both kinds
    while any(made[p] < n for p, _, n, _ in plan):
        for prefix, template, total, shift in plan:
            if made[prefix] >= total:
                continue
            if time.monotonic() - start > budget:
                print(f"  fill budget of {budget:.0f} s spent", flush=True)
                plan = []
                break
            first = made[prefix] + 1
            last = min(total, made[prefix] + chunk)
            filler.copy(template, prefix, first, last, shift)
            made[prefix] = last
            print(
                f"  {prefix}: {last:,}/{total:,} threads after {time.monotonic() - start:.0f} s",
                flush=True,
            )
    filler.analyze()
    print(f"  filled and analysed in {time.monotonic() - start:.0f} s", flush=True)
    return made["p"], made["d"]


def validate(saver: Any, paused: int, done: int) -> None:
    """Sample copies read back with the store's functions and the registered graph."""
    from interlock.checkpoint.base import ThreadQuery

    graphs = {f"agent{n}": graph(saver, f"agent{n}") for n in range(AGENTS)}
    samples = sorted({1, 2, 99, 100, paused // 2, paused}) if paused else []
    for g in samples:
        tid = f"p{g}"
        info = saver.get_thread(tid)
        assert info is not None and info.status == "interrupted", (tid, info)
        assert info.owner == f"user{g % REQUESTERS}"
        assert info.metadata["graph_id"] == f"agent{g % AGENTS}"
        assert info.metadata["assistant_id"] == assistant_uuid(f"agent{g % AGENTS}")
        [pending] = saver.list_interrupts(status="pending", thread_id=tid).items
        assert saver.get_interrupt(pending.interrupt_id) == pending
        assert pending.metadata["requested_by"] == f"user{g % REQUESTERS}"
        rule = ["rare"] if g % 100 == 0 else ["group:ops"]
        assert (
            pending.metadata["approvers"] == rule
            and pending.metadata["graph"] == f"agent{g % AGENTS}"
        )
        eligible = saver.list_interrupts(eligible=rule, thread_id=tid).items
        assert [r.interrupt_id for r in eligible] == [pending.interrupt_id]
        state = graphs[f"agent{g % AGENTS}"].get_state({"configurable": {"thread_id": tid}})
        assert state.values == {"order": f"o-{tid}", "asks": 1}, state.values
        assert state.next == ("ask",) and [i.id for i in state.interrupts] == [pending.interrupt_id]
        found = saver.search_threads(ThreadQuery(ids=(tid,), pending=True))
        assert [t.thread_id for t in found] == [tid]
        assert saver.search_threads(ThreadQuery(ids=(tid,), pending=False)) == ()
    for g in sorted({1, 2, done // 2, done}) if done else []:
        tid = f"d{g}"
        info = saver.get_thread(tid)
        assert info is not None and info.status == "finished", (tid, info)
        decided = saver.list_interrupts(status="resolved", thread_id=tid, limit=50).items
        assert len(decided) == ASKS and {r.decided_by for r in decided} == {"opsperson"}
        state = graphs[f"agent{g % AGENTS}"].get_state({"configurable": {"thread_id": tid}})
        assert state.values["order"] == f"o-{tid}" and len(state.values["answers"]) == ASKS
        assert state.next == ()
        idle = saver.search_threads(ThreadQuery(ids=(tid,), pending=False, leased=False))
        assert [t.thread_id for t in idle] == [tid]
    print(f"  {len(samples)} paused and 4 done copies read back as the template", flush=True)


# ---- measuring ---------------------------------------------------------------------------


class Timed:
    """An ASGI app wrapper that records each request's time inside the app."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.times: list[float] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        await self.app(scope, receive, send)
        self.times.append(time.perf_counter() - start)


def measure(
    saver: Any, calls: int, warm: int, paused: int, only: str = ""
) -> list[tuple[str, float, float, str]]:
    from fastapi.testclient import TestClient

    from interlock.server import ApiKeys, create_app

    registry = {f"agent{n}": graph(saver, f"agent{n}") for n in range(AGENTS)}
    app = create_app(registry, keys=ApiKeys.parse(MEASURE_KEYS), workers=0)
    timed = Timed(app)
    out: list[tuple[str, float, float, str]] = []
    ops = {"x-api-key": "k-ops"}
    rare = {"x-api-key": "k-rare"}
    u20 = {"x-api-key": "k-u20"}
    with TestClient(timed) as http:
        login = http.post(
            "/inbox/login", data={"key": "k-ops", "next": "/inbox"}, follow_redirects=False
        )
        assert login.status_code == 303, login.text
        cookies = dict(login.cookies)

        def later(path: str, headers: dict[str, str], pages: int = 10) -> str:
            """The path of the `pages`-th page (following next_cursor)."""
            cursor = None
            for _ in range(pages):
                sep = "&" if "?" in path else "?"
                url = path + (f"{sep}cursor={cursor}" if cursor else "")
                got = http.get(url, headers=headers).json()
                if not got["next_cursor"]:
                    break
                cursor = got["next_cursor"]
            sep = "&" if "?" in path else "?"
            return path + (f"{sep}cursor={cursor}" if cursor else "")

        def run(name: str, call: Callable[[], Any], check: Callable[[Any], str]) -> None:
            if only not in name:
                return
            for _ in range(warm):
                call()
            timed.times.clear()
            gc.collect()
            note = ""
            for _ in range(calls):
                response = call()
                assert response.status_code == 200, (
                    name,
                    response.status_code,
                    response.text[:300],
                )
                note = check(response)
            times = sorted(timed.times)
            assert len(times) == calls
            median = statistics.median(times) * 1e3
            p95 = times[min(len(times) - 1, int(0.95 * len(times)))] * 1e3
            out.append((name, median, p95, note))
            print(f"  {name:<58} median {median:6.2f} ms  p95 {p95:6.2f} ms  {note}", flush=True)

        def approvals(r: Any) -> str:
            body = r.json()
            return f"{len(body['approvals'])} items"

        for label, query, who in (
            ("GET /v1/approvals", "/v1/approvals?limit=50", ops),
            ("GET /v1/approvals?agent=agent3", "/v1/approvals?limit=50&agent=agent3", ops),
            (
                "GET /v1/approvals?requested_by=user20",
                "/v1/approvals?limit=50&requested_by=user20",
                ops,
            ),
            (
                "GET /v1/approvals?mine=true (rare: 1% of rules)",
                "/v1/approvals?limit=50&mine=true",
                rare,
            ),
            (
                "GET /v1/approvals?mine=true (group:ops: 99%)",
                "/v1/approvals?limit=50&mine=true",
                ops,
            ),
        ):
            run(label + ", first page", lambda q=query, h=who: http.get(q, headers=h), approvals)
            deep = later(query, who)
            run(label + ", 10th page", lambda q=deep, h=who: http.get(q, headers=h), approvals)

        def threads(r: Any) -> str:
            return f"{len(r.json()['threads'])} threads"

        run(
            "GET /v1/threads (requester user20), first page",
            lambda: http.get("/v1/threads?limit=50", headers=u20),
            threads,
        )
        run(
            "GET /v1/threads (requester user20), offset 150",
            lambda: http.get("/v1/threads?limit=50&offset=150", headers=u20),
            threads,
        )
        run(
            "GET /v1/threads (approver: every thread), first page",
            lambda: http.get("/v1/threads?limit=50", headers=ops),
            threads,
        )

        def html(r: Any) -> str:
            return f"{r.text.count('data-kind=')} requests"

        run("GET /inbox (web list), first page", lambda: http.get("/inbox", cookies=cookies), html)
        first = http.get("/inbox", cookies=cookies).text
        marker = 'href="/inbox?cursor='
        at = first.find(marker)
        assert at >= 0, "no second page"
        nxt = html_unescape(first[at + len(marker) : first.find('"', at + len(marker))])
        run(
            "GET /inbox (web list), second page",
            lambda: http.get(f"/inbox?cursor={nxt}", cookies=cookies),
            html,
        )
        rare_cookies = _cookie(http, "k-rare")
        run(
            "GET /inbox?mine=1 (web list, rare: 1% of rules)",
            lambda: http.get("/inbox?mine=1", cookies=rare_cookies),
            html,
        )

        def found(r: Any) -> str:
            return f"{len(r.json())} threads"

        searches = [
            ("metadata tenant=tenant7 (1%)", {"metadata": {"tenant": "tenant7"}}, ops),
            ("metadata graph_id=agent3 (10%)", {"metadata": {"graph_id": "agent3"}}, ops),
            ("metadata user_id=user20 (0.1%)", {"metadata": {"user_id": "user20"}}, ops),
            ("status=interrupted", {"status": "interrupted"}, ops),
            ("status=idle", {"status": "idle"}, ops),
            ("status=busy (none)", {"status": "busy"}, ops),
            (
                "status=interrupted + graph_id=agent3",
                {"status": "interrupted", "metadata": {"graph_id": "agent3"}},
                ops,
            ),
            (
                "metadata tenant=tenant7, offset 500",
                {"metadata": {"tenant": "tenant7"}, "offset": 500},
                ops,
            ),
            ("requester user20: status=interrupted", {"status": "interrupted"}, u20),
            (
                "sort_by=created_at asc, no filter",
                {"sort_by": "created_at", "sort_order": "asc"},
                ops,
            ),
        ]
        for label, body, who in searches:
            run(
                f"POST /threads/search {label}",
                lambda b=body, h=who: http.post(
                    "/threads/search", json={"limit": 10, **b}, headers=h
                ),
                found,
            )
        run(
            "POST /threads/count metadata tenant=tenant7 (1%)",
            lambda: http.post(
                "/threads/count", json={"metadata": {"tenant": "tenant7"}}, headers=ops
            ),
            lambda r: f"= {r.json()}",
        )
    return out


def _cookie(http: Any, key: str) -> dict[str, str]:
    login = http.post("/inbox/login", data={"key": key, "next": "/inbox"}, follow_redirects=False)
    return dict(login.cookies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="sqlite", help="sqlite, or a postgresql:// DSN")
    parser.add_argument("--paused", type=int, default=100_000)
    parser.add_argument("--done", type=int, default=100_000)
    parser.add_argument(
        "--fill-budget", type=float, default=900.0, help="seconds of filling at most"
    )
    parser.add_argument("--chunk", type=int, default=20_000)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--warm", type=int, default=5)
    parser.add_argument("--path", help="SQLite: the file (default: a temporary one)")
    parser.add_argument(
        "--keep",
        help="keep the filled store under this name (SQLite: a file; PostgreSQL: a schema) "
        "and, when it exists already, measure it again without filling",
    )
    parser.add_argument(
        "--only", default="", help="measure only the endpoints whose label holds this text"
    )
    args = parser.parse_args()

    from interlock.checkpoint.sqlite import SqliteSaver

    tmp = tempfile.TemporaryDirectory()
    schema = None
    if args.db == "sqlite":
        path = args.keep or args.path or f"{tmp.name}/scale.db"
        again = args.keep is not None and Path(path).exists()
        saver: Any = SqliteSaver(path)
    else:
        import psycopg

        from interlock.checkpoint.postgres import PostgresSaver

        schema = args.keep or "bench_scale_" + uuid.uuid4().hex[:8]
        with psycopg.connect(args.db, autocommit=True) as conn:
            again = (
                conn.execute(
                    "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", (schema,)
                ).fetchone()
                is not None
            )
        saver = PostgresSaver(args.db, schema=schema)
        saver._dsn = args.db
    try:
        if again:
            paused = len(saver.search_threads(ThreadQuery(pending=True), limit=1)) and args.paused
            done = args.done
            print(f"{args.db}: measuring the store kept as {args.keep}", flush=True)
        else:
            print(f"{args.db}: templates", flush=True)
            make_templates(saver)
            paused, done = fill(saver, args.paused, args.done, args.fill_budget, args.chunk)
            for template in (PAUSED, DONE):
                saver.delete_thread(template)
            print(
                f"{paused:,} paused threads ({paused:,} pending requests), {done:,} finished "
                f"threads ({done * ASKS:,} decided requests)",
                flush=True,
            )
            validate(saver, paused, done)
        measure(saver, args.calls, args.warm, paused, args.only)
    finally:
        saver.close()
        if schema is not None and args.keep is None:
            import psycopg

            with psycopg.connect(args.db, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        tmp.cleanup()


if __name__ == "__main__":
    main()
