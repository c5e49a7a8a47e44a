"""The web inbox in a real browser: Debian's Chromium driven by Playwright, against the app
served on a loopback port. Under CI=true a missing Chromium fails the run (`.ci/run`
installs it with scripts/ensure-chromium); elsewhere these tests skip with the reason.

Every control of issue 15: typed fields with a live diff and validation, the decision
buttons with the reason asked when needed, keyboard decisions, bulk decisions with one
request decided meanwhile by someone else, filters and sorting without a reload, live
updates of the list and of an open request, notifications, phone width, and screenshots
compared with the references in tests/screenshots/ (refresh them on purpose with
`INTERLOCK_UPDATE_SCREENSHOTS=1`)."""

from __future__ import annotations

import base64
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from interlock import AIMessage, create_agent, tool
from interlock.agent.models.scripted import ScriptedChatModel
from interlock.checkpoint.sqlite import SqliteSaver
from interlock.server import ApiKeys, create_app
from tests import _inbox_scene as scene
from tests._http import served

pytestmark = pytest.mark.slow

ran: list[Any] = []
lock = threading.Lock()
KEYS = "k-ada=ada:approver;k-eve=eve:approver;k-bob=bob:requester"
SHOTS = Path(__file__).parent / "screenshots"


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


opened: list[Any] = []


@pytest.fixture
def team(tmp_path: Path) -> Iterator[tuple[httpx.Client, list[str], SqliteSaver]]:
    """The scene served with keys: three course deletions and a refund asked by bob."""
    scene.ran.clear()
    saver = SqliteSaver(tmp_path / "team.db")
    with served(create_app(scene.agents(saver), keys=ApiKeys.parse(KEYS))) as http:
        yield http, scene.ask_all(http, "k-bob"), saver
        while opened:  # their event streams end before the server does
            opened.pop().close()
    saver.close()


def _signed_in(browser: Any, http: httpx.Client, key: str = "k-ada", **options: Any) -> Any:
    page = browser.new_page(viewport={"width": 1280, "height": 900}, **options)
    opened.append(page)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    base = str(http.base_url).rstrip("/")
    page.goto(f"{base}/inbox/login")
    page.fill("#key", key)
    page.click("button:has-text('Log in')")
    page.wait_for_url(f"{base}/inbox")
    return page


@tool
def delete_course(course_name: str) -> str:
    """Delete a course.

    Args:
        course_name: The course.
    """
    with lock:
        ran.append(course_name)
    return f'Course "{course_name}" has been deleted'


def _agent(saver: Any, course: str) -> Any:
    model = ScriptedChatModel(
        [
            AIMessage(
                content="",
                tool_calls=[{"name": "delete_course", "args": {"course_name": course}, "id": "c1"}],
            ),
            "Done.",
        ]
    )
    return create_agent(
        model=model, tools=[delete_course], checkpointer=saver, interrupt_on={"delete_course": True}
    )


def test_an_approver_edits_and_approves_in_the_browser(browser: Any, tmp_path: Path) -> None:
    ran.clear()
    saver = SqliteSaver(tmp_path / "inbox.db")
    keys = ApiKeys.parse("k-ada=ada:approver;k-bob=bob:requester")
    payload = '<img src=x onerror="window.__pwned = 1">'
    with served(create_app({"courses": _agent(saver, payload)}, keys=keys)) as http:
        http.post(
            "/v1/threads", json={"message": "delete that course"}, headers={"X-API-Key": "k-bob"}
        )
        page = _signed_in(browser, http)
        base = str(http.base_url).rstrip("/")
        assert payload in page.inner_text("#list .args")  # which course, as text
        page.click("a.act:has-text('delete_course')")
        assert page.evaluate("window.__pwned") is None  # the payload is text, not markup
        field = "[name='a0.course_name']"  # a typed field per argument
        assert page.input_value(field) == payload
        assert not page.is_visible("#diff_0")  # nothing edited: no diff
        assert page.is_disabled("#do-edit") and page.is_enabled("#do-approve")
        page.fill(field, "Outdated Java Tutorial")
        # the edit's diff, live: the old arguments struck out, the new ones added, as text
        assert "Outdated Java Tutorial" in page.inner_text("#diff_0 .add")
        removed = page.locator("#diff_0 .del").all_inner_texts()
        assert any("<img src=x onerror=" in line for line in removed)
        assert page.evaluate("window.__pwned") is None
        assert page.is_disabled("#do-approve")  # approving would run the old arguments
        assert "Edit & approve runs your version" in page.inner_text("#edit-hint")
        page.click("#do-edit")
        page.wait_for_url(f"{base}/inbox?done=*")
        assert "Decision sent" in page.inner_text("main")
        assert "Nothing is waiting" in page.inner_text("main")
        assert page.errors == []
        page.close()
    assert ran == ["Outdated Java Tutorial"]
    saver.close()


def test_a_reject_asks_the_reason_and_it_reaches_the_model(browser: Any, tmp_path: Path) -> None:
    ran.clear()
    saver = SqliteSaver(tmp_path / "inbox.db")
    agent = _agent(saver, "Advanced Python")
    with served(create_app({"courses": agent})) as http:  # no keys: local use, no login
        iid = http.post("/v1/threads", json={"message": "delete it"}).json()["run"]["interrupts"][
            0
        ]["id"]
        page = browser.new_page()
        base = str(http.base_url).rstrip("/")
        page.goto(f"{base}/inbox/{iid}")
        assert not page.is_visible("#message_0")  # no reason asked before it is needed
        page.click("#do-reject")
        assert page.is_visible("#message_0") and page.url.endswith(iid)  # asked, not sent
        assert page.evaluate("document.activeElement.id") == "message_0"
        assert page.inner_text("#do-reject").startswith("Send rejection")
        page.fill("#message_0", "we still teach it")
        page.press("#message_0", "Enter")  # Enter sends the rejection, never an approval
        page.wait_for_url(f"{base}/inbox?done=*")
        page.close()
        thread = http.get(
            f"/v1/threads/{http.get('/v1/threads').json()['threads'][0]['thread_id']}"
        )
        messages = thread.json()["values"]["messages"]
    tool_message = next(m for m in messages if m["type"] == "tool")
    assert "we still teach it" in tool_message["content"]
    assert ran == []
    saver.close()


def test_the_inbox_updates_live(browser: Any, tmp_path: Path) -> None:
    ran.clear()
    saver = SqliteSaver(tmp_path / "live.db")
    with served(create_app({"courses": _agent(saver, "Old Course")})) as http:
        page = browser.new_page()
        base = str(http.base_url).rstrip("/")
        page.goto(f"{base}/inbox")
        assert "Nothing is waiting" in page.inner_text("main")
        page.wait_for_function("window.inboxLive === true")  # its event stream is open
        page.evaluate("window.__stay = 1")  # gone if the page reloads
        http.post("/v1/threads", json={"message": "delete the old course"})
        page.wait_for_selector("text=course_name: Old Course", timeout=20_000)  # no reload
        assert page.evaluate("window.__stay") == 1
        page.close()
    saver.close()


def test_an_open_request_shows_a_decision_by_someone_else(browser: Any, team: Any) -> None:
    http, ids, _ = team
    page = _signed_in(browser, http)
    page.goto(page.url + f"/{ids[0]}")
    page.wait_for_function("window.inboxLive === true")
    page.evaluate("window.__stay = 1")
    decided = http.post(
        f"/v1/approvals/{ids[0]}/decision",
        json={"value": {"decisions": [{"type": "approve"}]}},
        headers={"X-API-Key": "k-eve"},
    )
    assert decided.status_code == 200
    page.wait_for_selector("text=resolved by eve", timeout=20_000)  # replaces the form
    assert not page.is_visible("#do-approve") and page.evaluate("window.__stay") == 1
    assert "just now" in page.inner_text(".decided-line") or " s ago" in page.inner_text(
        ".decided-line"
    )
    assert page.errors == []


def test_filters_and_sorting_apply_without_a_reload(browser: Any, team: Any) -> None:
    http, ids, _ = team
    page = _signed_in(browser, http)
    page.evaluate("window.__stay = 1")
    rows = "#list tbody tr"
    assert page.locator(rows).count() == 4
    page.select_option("#f-agent", "billing")
    page.wait_for_function(f"document.querySelectorAll('{rows}').length === 1")
    assert page.url.endswith("/inbox?agent=billing") and page.evaluate("window.__stay") == 1
    assert "refund" in page.inner_text(rows)
    page.select_option("#f-agent", "")
    page.wait_for_function(f"document.querySelectorAll('{rows}').length === 4")
    page.select_option("#f-sort", "newest")
    assert page.get_attribute(f"{rows} >> nth=0", "data-id") == ids[3]
    page.select_option("#f-sort", "deadline")  # the only deadline first
    assert page.get_attribute(f"{rows} >> nth=0", "data-id") == ids[3]
    page.select_option("#f-sort", "oldest")
    assert page.get_attribute(f"{rows} >> nth=0", "data-id") == ids[0]
    page.fill("#f-by", "nobody")
    page.wait_for_selector("text=Nothing is waiting that matches these filters.")
    assert page.evaluate("window.__stay") == 1 and page.errors == []


def test_keyboard_decisions(browser: Any, team: Any) -> None:
    http, ids, saver = team
    page = _signed_in(browser, http)
    page.keyboard.press("?")
    assert page.is_visible("#help")
    page.keyboard.press("Escape")
    page.keyboard.press("j")  # the first request
    assert page.get_attribute("tr.current", "data-id") == ids[0]
    page.keyboard.press("a")  # approve it: asks first, Enter confirms
    page.wait_for_selector("dialog[open] >> text=Approve delete_course(")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=1 of 1 approved.")
    assert saver.get_interrupt(ids[0]).status == "resolved"
    page.keyboard.press("j")
    assert page.get_attribute("tr.current", "data-id") == ids[1]
    page.keyboard.press("r")  # reject it: the reason is asked
    page.wait_for_selector("dialog[open] textarea")
    page.keyboard.type("still taught on Fridays")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=1 of 1 rejected.")
    decided = saver.get_interrupt(ids[1])
    assert decided.status == "resolved"
    assert decided.resume["decisions"][0]["message"] == "still taught on Fridays"
    page.keyboard.press("j")
    page.keyboard.press("k")
    assert page.get_attribute("tr.current", "data-id") == ids[2]
    page.keyboard.press("e")  # open it to edit
    page.wait_for_url(f"**/inbox/{ids[2]}")
    page.keyboard.press("e")
    assert page.evaluate("document.activeElement.name") == "a0.course_name"
    page.keyboard.press("Escape")
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("a")  # on its page, a approves it
    page.wait_for_url("**/inbox?done=*")
    assert saver.get_interrupt(ids[2]).status == "resolved"
    assert sorted(c for name, c, *_ in scene.ran) == sorted([scene.COURSES[0], scene.COURSES[2]])
    assert page.errors == []


def test_a_bulk_approval_with_one_decided_meanwhile(browser: Any, team: Any) -> None:
    http, ids, saver = team
    page = _signed_in(browser, http)
    assert page.is_disabled("#bulk-approve")  # nothing selected yet
    page.check(f"input[value='{ids[0]}']")
    assert page.is_disabled(f"input[value='{ids[3]}']")  # a refund is another kind
    page.check("#select-all")  # every request of that kind
    assert "3 selected (delete_course)" in page.inner_text("#selected")
    eve = http.post(  # meanwhile eve rejects one through the API
        f"/v1/approvals/{ids[1]}/decision",
        json={"value": {"decisions": [{"type": "reject", "message": "keep it"}]}},
        headers={"X-API-Key": "k-eve"},
    )
    assert eve.status_code == 200
    page.evaluate("window.__stay = 1")
    page.click("#bulk-approve")
    page.wait_for_selector("text=2 of 3 approved.")
    results = page.locator(".results tbody tr")
    assert results.count() == 3
    texts = {results.nth(n).get_attribute("data-id"): results.nth(n).inner_text() for n in range(3)}
    assert "✓ approved" in texts[ids[0]] and "✓ approved" in texts[ids[2]]
    assert "already resolved by eve" in texts[ids[1]]
    assert page.evaluate("window.__stay") == 1
    page.wait_for_function("document.querySelectorAll('#list tbody tr').length === 1")
    assert [saver.get_interrupt(i).decided_by for i in ids[:3]] == ["ada", "eve", "ada"]
    deleted = sorted(c for name, c, *_ in scene.ran if name == "delete_course")
    assert deleted == sorted([scene.COURSES[0], scene.COURSES[2]])
    # a bulk rejection asks for the reason
    page.check(f"input[value='{ids[3]}']")
    page.click("#bulk-reject")
    page.wait_for_selector("dialog[open] textarea")
    page.keyboard.press("Escape")
    assert saver.get_interrupt(ids[3]).status == "pending" and page.errors == []


def test_fields_are_validated_before_sending(browser: Any, team: Any) -> None:
    http, ids, saver = team
    page = _signed_in(browser, http)
    page.goto(page.url + f"/{ids[3]}")
    page.fill("[name='a0.order_id']", "")  # required
    page.click("#do-edit")
    assert page.url.endswith(ids[3])  # the browser kept it
    assert page.evaluate("document.querySelector(\"[name='a0.order_id']\").validity.valueMissing")
    page.fill("[name='a0.order_id']", "A-1043")
    page.fill("[name='a0.amount']", "45")
    page.select_option("[name='a0.currency']", '"GBP"')
    page.uncheck("[name='a0.notify_customer']")
    diff = page.inner_text("#diff_0")
    assert '+   "amount": 45' in diff and '+   "currency": "GBP"' in diff
    page.click("#do-edit")
    page.wait_for_url("**/inbox?done=*")
    assert scene.ran == [("refund", "A-1043", 45, "GBP", False, "Damaged in transit")]
    assert saver.get_interrupt(ids[3]).status == "resolved" and page.errors == []


def test_notifications_for_new_requests_i_may_decide(browser: Any, tmp_path: Path) -> None:
    saver = SqliteSaver(tmp_path / "notes.db")
    later = [*scene.COURSES[:1], "Perl for Poets"]
    with served(create_app(scene.agents(saver, later), keys=ApiKeys.parse(KEYS))) as http:
        scene.ask_all(http, "k-bob", later[:1])
        page = browser.new_page()
        page.add_init_script(
            """window.__notes = [];
            window.Notification = class {
              constructor(title, o) { window.__notes.push([title, o.body]); }
              static get permission() { return window.__granted ? "granted" : "default"; }
              static async requestPermission() { window.__granted = true; return "granted"; }
            };"""
        )
        base = str(http.base_url).rstrip("/")
        page.goto(f"{base}/inbox/login")
        page.fill("#key", "k-ada")
        page.click("button:has-text('Log in')")
        page.wait_for_url(f"{base}/inbox")
        page.click("#notify")
        page.wait_for_selector("text=Notifications on")
        page.wait_for_function("window.inboxLive === true")
        more = http.post(
            "/v1/threads",
            json={"agent": "courses", "message": "and the Perl one"},
            headers={"X-API-Key": "k-bob"},
        )
        assert more.status_code == 201 and more.json()["run"]["interrupts"]
        page.wait_for_function("window.__notes.length === 1", timeout=20_000)
        title, body = page.evaluate("window.__notes[0]")
        assert title == "Waiting for you: delete_course"
        assert body == "course_name: Perl for Poets"
        page.close()
    saver.close()


def test_phone_width(browser: Any, team: Any) -> None:
    http, ids, _ = team
    page = _signed_in(browser, http)
    page.set_viewport_size({"width": 390, "height": 844})
    for url in ("/inbox", f"/inbox/{ids[3]}"):
        page.goto(str(http.base_url).rstrip("/") + url)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
    assert page.evaluate("getComputedStyle(document.querySelector('.request')).display") == "grid"
    width = page.evaluate("document.querySelector('#do-approve').getBoundingClientRect().width")
    assert width > 300  # big buttons, full width


UNLABELLED = """() => Array.from(document.querySelectorAll("input, select, textarea, button"))
  .filter((el) => el.type !== "hidden" && !el.hidden && el.offsetParent !== null)
  .filter((el) => !((el.labels && el.labels.length) || el.getAttribute("aria-label")
                   || (el.tagName === "BUTTON" && el.textContent.trim())))
  .map((el) => el.outerHTML)"""


def test_every_control_has_a_label_and_the_keyboard_reaches_it(browser: Any, team: Any) -> None:
    http, ids, _ = team
    page = _signed_in(browser, http)
    for url in ("", f"/{ids[3]}"):
        page.goto(str(http.base_url).rstrip("/") + "/inbox" + url)
        assert page.evaluate(UNLABELLED) == []
    page.keyboard.press("Tab")  # the first stop skips to the content
    assert page.evaluate("document.activeElement.className") == "skip"
    stops = []
    for _ in range(40):
        page.keyboard.press("Tab")
        stops.append(
            page.evaluate("document.activeElement.id || document.activeElement.name || ''")
        )
    # the fields in reading order, then the decision buttons
    fields = [s for s in stops if s.startswith("a0.")]
    assert fields[:3] == ["a0.0", "a0.1", "a0.2"]
    assert stops.index("do-approve") > stops.index("a0.4")


# ---- screenshots ------------------------------------------------------------------------------

STEADY = """() => {
  for (const t of document.querySelectorAll("time"))
    t.textContent = t.classList.contains("deadline") ? "in 39 min" : "4 min ago";
  for (const a of document.querySelectorAll(".tid, .meta a[href^='/inbox/threads/']"))
    a.textContent = a.classList.contains("tid") ? "thread 0a1b2c3d…" : "0a1b2c3d4e5f";
  const state = document.querySelector("#live-state");
  if (state) state.style.visibility = "hidden";  // "live" once the stream opens: timing
  document.activeElement?.blur();
}"""

COMPARE = """async ([a, b]) => {
  const load = (src) => new Promise((ok, bad) => {
    const i = new Image(); i.onload = () => ok(i); i.onerror = bad; i.src = src; });
  const [x, y] = await Promise.all([load(a), load(b)]);
  if (x.width !== y.width || x.height !== y.height) return 1;
  const pixels = (img) => {
    const c = document.createElement("canvas");
    c.width = img.width; c.height = img.height;
    const g = c.getContext("2d"); g.drawImage(img, 0, 0);
    return g.getImageData(0, 0, img.width, img.height).data;
  };
  const p = pixels(x), q = pixels(y);
  let differ = 0;
  for (let k = 0; k < p.length; k += 4)
    if (Math.abs(p[k] - q[k]) > 48 || Math.abs(p[k + 1] - q[k + 1]) > 48
        || Math.abs(p[k + 2] - q[k + 2]) > 48) differ++;
  return differ / (p.length / 4);
}"""


def _matches(browser: Any, name: str, shot: bytes, tmp_path: Path) -> None:
    reference = SHOTS / f"{name}.png"
    if os.environ.get("INTERLOCK_UPDATE_SCREENSHOTS") == "1":
        SHOTS.mkdir(exist_ok=True)
        reference.write_bytes(shot)
        return
    assert reference.exists(), f"no {reference}: INTERLOCK_UPDATE_SCREENSHOTS=1 makes it"
    (tmp_path / f"{name}.png").write_bytes(shot)
    urls = [
        "data:image/png;base64," + base64.b64encode(data).decode()
        for data in (reference.read_bytes(), shot)
    ]
    blank = browser.new_page()
    differ = blank.evaluate(COMPARE, urls)
    blank.close()
    assert differ < 0.01, (
        f"{name}: {differ:.1%} of the pixels changed (now: {tmp_path / f'{name}.png'}); "
        "if the change is meant, refresh with INTERLOCK_UPDATE_SCREENSHOTS=1"
    )


def test_screenshots_match_the_references(browser: Any, team: Any, tmp_path: Path) -> None:
    http, ids, _ = team
    page = _signed_in(browser, http)
    page.evaluate(STEADY)
    _matches(browser, "inbox-list", page.screenshot(), tmp_path)
    page.goto(page.url + f"/{ids[3]}")
    page.evaluate(STEADY)
    _matches(browser, "inbox-request", page.screenshot(), tmp_path)
    page.fill("[name='a0.amount']", "45")
    page.evaluate(STEADY)
    _matches(browser, "inbox-request-edited", page.screenshot(), tmp_path)
