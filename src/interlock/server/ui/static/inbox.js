// The inbox's hand-written script (no build step). The pages work without it; with it:
// relative times stay current, the list filters, sorts and updates itself in place, the
// request page shows edits as a diff and validates fields, keyboard shortcuts, bulk
// selection and browser notifications. Everything a request says is set as text, never HTML.
"use strict";

(() => {
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
  const page = document.body.dataset.page;

  // ---- relative times ("4 min ago", "in 2 h"), the exact time stays in the title -------
  function words(iso) {
    const at = Date.parse(iso);
    if (Number.isNaN(at)) return null;
    const seconds = Math.round((Date.now() - at) / 1000);
    if (Math.abs(seconds) < 5) return ["just now", seconds];
    let n = Math.abs(seconds), unit = "s";
    for (const [u, size] of [["d", 86400], ["h", 3600], ["min", 60]]) {
      if (n >= size) { n = Math.floor(n / size); unit = u; break; }
    }
    return [seconds > 0 ? `${n} ${unit} ago` : `in ${n} ${unit}`, seconds];
  }
  function tick(root = document) {
    for (const t of $$("time[datetime]", root)) {
      const w = words(t.getAttribute("datetime"));
      if (!w) continue;
      if (t.classList.contains("deadline")) {
        t.textContent = w[1] >= 0 ? "overdue" : w[0];
        t.classList.toggle("soon", w[1] > -3600);
      } else {
        t.textContent = w[0];
      }
    }
  }
  setInterval(tick, 15000);

  // ---- help and small dialogs -------------------------------------------------------------
  const help = $("#help");
  const openHelp = () => { if (help && !help.open) help.showModal(); };
  $("#help-open")?.addEventListener("click", openHelp);

  /** Ask in a modal dialog; resolves to the text typed (or "" with no field), null if cancelled. */
  function ask(title, { reason = false, confirm = "OK", danger = false } = {}) {
    return new Promise((resolve) => {
      const dialog = document.createElement("dialog");
      dialog.setAttribute("aria-label", title);
      const form = document.createElement("form");
      form.method = "dialog";
      const h = document.createElement("h2");
      h.textContent = title;
      form.appendChild(h);
      let input = null;
      if (reason) {
        const label = document.createElement("label");
        label.textContent = "Reason (the agent reads it)";
        label.htmlFor = "ask-reason";
        input = document.createElement("textarea");
        input.id = "ask-reason";
        input.required = true;
        input.rows = 3;
        form.append(label, input);
      }
      const buttons = document.createElement("div");
      buttons.className = "buttons";
      const ok = document.createElement("button");
      ok.className = "big " + (danger ? "reject" : "approve");
      ok.value = "ok";
      ok.textContent = confirm;
      const cancel = document.createElement("button");
      cancel.type = "button";
      cancel.textContent = "Cancel";
      cancel.addEventListener("click", () => dialog.close("cancel"));
      buttons.append(ok, cancel);
      form.appendChild(buttons);
      if (input) input.addEventListener("keydown", (e) => {
        if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(ok); }
      });
      dialog.appendChild(form);
      document.body.appendChild(dialog);
      dialog.addEventListener("close", () => {
        const value = dialog.returnValue === "ok" ? (input ? input.value.trim() : "") : null;
        dialog.remove();
        resolve(value);
      });
      dialog.showModal();
      (input || ok).focus();
    });
  }

  // ---- keyboard -------------------------------------------------------------------------
  const typing = (e) => e.target.closest("input, textarea, select, [contenteditable]");
  const keymap = {};
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || document.querySelector("dialog[open]")) return;
    if (typing(e) || (e.key === "Enter" && e.target.closest("a, button, summary"))) return;
    const action = keymap[e.key] || (e.key === "?" ? openHelp : null);
    if (action) { e.preventDefault(); action(e); }
  });

  // ---- fetch a page and read it ------------------------------------------------------------
  async function load(url, options = {}) {
    const response = await fetch(url, { credentials: "same-origin", ...options });
    if (response.redirected && new URL(response.url).pathname.startsWith("/inbox/login")) {
      location.href = response.url;  // the session ended: sign in again
      return null;
    }
    return new DOMParser().parseFromString(await response.text(), "text/html");
  }

  // ---- live updates (server-sent events) ------------------------------------------------------
  function live(onChange) {
    if (!window.EventSource) return;
    const stream = new EventSource("/inbox/events");
    const state = $("#live-state");
    stream.addEventListener("open", () => {
      window.inboxLive = true;
      if (state) state.textContent = "live";
    });
    stream.addEventListener("error", () => { if (state) state.textContent = "reconnecting…"; });
    stream.addEventListener("changed", () => onChange());
  }


  // =====================================================================================
  function list() {
    const filters = $("#filters");
    const sort = $("#f-sort");
    let current = null;  // the row j/k moved to (by id)

    if (sort) {
      sort.closest("label").hidden = false;
      sort.value = localStorage.getItem("inbox.sort") || "oldest";
      sort.addEventListener("change", () => { localStorage.setItem("inbox.sort", sort.value); arrange(); });
    }
    const go = $("#filter-go");
    if (go) go.hidden = true;  // filters apply as they change

    const rows = () => $$("#list tbody tr");
    function arrange() {
      const body = $("#list tbody");
      if (!body || !sort) return;
      const key = {
        oldest: (r) => r.dataset.created,
        newest: (r) => r.dataset.created,
        deadline: (r) => r.dataset.deadline || "9999",
        agent: (r) => r.dataset.agent + r.dataset.created,
      }[sort.value] || ((r) => r.dataset.created);
      const sorted = rows().sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
      if (sort.value === "newest") sorted.reverse();
      body.append(...sorted);
    }

    function select(row, focus = true) {
      rows().forEach((r) => r.classList.toggle("current", r === row));
      current = row ? row.dataset.id : null;
      if (row && focus) { row.querySelector("a.act").focus(); row.scrollIntoView({ block: "nearest" }); }
    }
    const currentRow = () => rows().find((r) => r.dataset.id === current) || null;
    function move(step) {
      const all = rows();
      if (!all.length) return;
      const at = all.indexOf(currentRow());
      select(all[Math.max(0, Math.min(all.length - 1, at < 0 ? 0 : at + step))]);
    }

    // bulk: only requests of one kind may be selected together
    function selection() {
      const boxes = $$("#list tbody input[name=id]");
      const chosen = boxes.filter((b) => b.checked);
      const kind = chosen.length ? chosen[0].closest("tr").dataset.kind : null;
      for (const b of boxes) {
        const other = kind !== null && b.closest("tr").dataset.kind !== kind;
        b.disabled = b.dataset.never === "1" || other;
      }
      const label = $("#selected");
      if (label) {
        label.textContent = chosen.length
          ? `${chosen.length} selected (${kind.replace(/^review:/, "")})`
          : "Select requests of one kind";
      }
      for (const id of ["#bulk-approve", "#bulk-reject"]) {
        const button = $(id);
        if (button) button.disabled = chosen.length === 0;
      }
      const all = $("#select-all");
      if (all) all.checked = chosen.length > 0 && chosen.length === boxes.filter((b) => !b.disabled).length;
      return chosen;
    }
    function wire() {
      for (const b of $$("#list tbody input[name=id]")) {
        if (b.disabled) b.dataset.never = "1";
        b.addEventListener("change", selection);
      }
      $("#select-all")?.addEventListener("change", (e) => {
        const boxes = $$("#list tbody input[name=id]").filter((b) => b.dataset.never !== "1");
        const kind = (boxes.find((b) => b.checked) || boxes.find((b) => b.closest("tr") === currentRow()) || boxes[0])
          ?.closest("tr").dataset.kind;
        for (const b of boxes) b.checked = e.target.checked && b.closest("tr").dataset.kind === kind;
        selection();
      });
      for (const r of rows()) r.addEventListener("click", (e) => { if (!e.target.closest("a, input")) select(r, false); });
      arrange();
      selection();
      const again = currentRow();
      if (again) select(again, false);
      tick();
    }
    wire();

    // filters without reloading the page: fetch the filtered list and swap it in
    async function refresh(url = location.pathname + location.search) {
      const kept = new Set(selection().map((b) => b.value));
      const before = new Set(rows().map((r) => r.dataset.id));
      const doc = await load(url);
      if (!doc || !$("#list", doc)) return;
      $("#list").replaceWith($("#list", doc));
      $("#count").textContent = $("#count", doc).textContent;
      for (const b of $$("#list tbody input[name=id]")) b.checked = kept.has(b.value) && !b.disabled;
      wire();
      notify(rows().filter((r) => !before.has(r.dataset.id) && r.dataset.yours === "1"));
      return doc;
    }
    let timer = null;
    if (filters) {
      const apply = () => {
        const query = new URLSearchParams(new FormData(filters));
        for (const [k, v] of Array.from(query)) if (!v) query.delete(k);
        const url = "/inbox" + (query.toString() ? "?" + query : "");
        history.replaceState(null, "", url);
        refresh(url);
      };
      filters.addEventListener("change", (e) => { if (e.target !== sort) apply(); });
      filters.addEventListener("input", (e) => {
        if (e.target.name !== "by") return;
        clearTimeout(timer);
        timer = setTimeout(apply, 300);
      });
      filters.addEventListener("submit", (e) => { e.preventDefault(); apply(); });
    }

    // bulk decisions: posted in the background; the page shows what became of each request
    const bulk = $("#bulk");
    bulk?.addEventListener("submit", async (e) => {
      e.preventDefault();
      const data = new FormData(bulk);
      const decision = e.submitter ? e.submitter.value : "approve";
      if (decision === "reject" && !String(data.get("message") || "").trim()) {
        const reason = await ask(`Reject ${selection().length} selected?`, { reason: true, confirm: "Reject", danger: true });
        if (reason === null || !reason) return;
        data.set("message", reason);
      }
      data.set("decision", decision);
      await post(data);
    });
    async function post(data) {
      const doc = await load("/inbox/bulk", { method: "POST", body: new URLSearchParams(data) });
      if (!doc) return;
      // what became of each request, above the list; then the list as filtered here
      $$("#main > .results, #main > p.ok, #main > p.error").forEach((n) => n.remove());
      const shown = $$("#main > .results, #main > p.ok, #main > p.error", doc);
      $(".toolbar").after(...shown);
      const message = $("#bulk-message");
      if (message) message.value = "";
      for (const b of $$("#list tbody input[name=id]")) b.checked = false;
      await refresh();
      $("#main").focus();
    }

    function decideRows(targets, decision, message = "") {
      const data = new FormData();
      data.set("csrf", $("#bulk input[name=csrf]").value);
      data.set("decision", decision);
      if (message) data.set("message", message);
      for (const r of targets) data.append("id", r.dataset.id);
      return post(data);
    }
    const targets = () => {
      const chosen = selection().map((b) => b.closest("tr"));
      if (chosen.length) return chosen;
      const row = currentRow();
      return row ? [row] : [];
    };
    const summary = (t) => (t.length === 1 ? t[0].dataset.summary : `${t.length} requests`);
    const decidable = (t) => t.length && t.every((r) => r.querySelector("input[name=id]")?.dataset.never !== "1");

    keymap.j = () => move(1);
    keymap.k = () => move(-1);
    keymap.o = keymap.Enter = keymap.e = () => { const r = currentRow(); if (r) location.href = r.querySelector("a.act").href; };
    keymap.x = () => {
      const box = currentRow()?.querySelector("input[name=id]");
      if (box && !box.disabled) { box.checked = !box.checked; selection(); }
    };
    keymap.a = async () => {
      const t = targets();
      if (!decidable(t)) { if (t.length) location.href = t[0].querySelector("a.act").href; return; }
      if ((await ask(`Approve ${summary(t)}?`, { confirm: "Approve" })) !== null) decideRows(t, "approve");
    };
    keymap.r = async () => {
      const t = targets();
      if (!decidable(t)) { if (t.length) location.href = t[0].querySelector("a.act").href; return; }
      const reason = await ask(`Reject ${summary(t)}?`, { reason: true, confirm: "Reject", danger: true });
      if (reason) decideRows(t, "reject", reason);
    };

    // browser notifications for new requests I may decide (opt-in, remembered)
    const button = $("#notify");
    const enabled = () => window.Notification && Notification.permission === "granted" && localStorage.getItem("inbox.notify") === "1";
    if (button && window.Notification) {
      const label = () => { button.textContent = enabled() ? "Notifications on" : "Notify me of new requests"; button.setAttribute("aria-pressed", String(enabled())); };
      button.hidden = false;
      label();
      button.addEventListener("click", async () => {
        if (enabled()) localStorage.removeItem("inbox.notify");
        else if ((await Notification.requestPermission()) === "granted") localStorage.setItem("inbox.notify", "1");
        label();
      });
    }
    function notify(fresh) {
      if (!enabled()) return;
      for (const r of fresh) {
        const note = new Notification("Waiting for you: " + r.querySelector("a.act").textContent, {
          body: (r.querySelector(".args")?.textContent || "").trim(), tag: r.dataset.id,
        });
        note.onclick = () => { window.focus(); location.href = "/inbox/" + r.dataset.id; };
      }
      window.inboxNotified = (window.inboxNotified || 0) + fresh.length;
    }

    live(() => refresh());
  }

  // =====================================================================================
  function request() {
    keymap.u = () => { location.href = "/inbox"; };

    // someone else decided, or the rule changed: the page follows
    live(async () => {
      const doc = await load(location.pathname);
      const fresh = doc && $("#request", doc);
      if (!fresh) return;
      if (fresh.dataset.status !== $("#request").dataset.status) {
        $("#request").replaceWith(fresh);
        tick();
      } else {
        $("#deciders").replaceWith($("#deciders", doc));
      }
    });

    const form = $("#decide");
    if (form) review(form);
    const area = $("#answer");
    if (area) {
      area.addEventListener("input", () => checkJson(area));
      $("#answer-json").addEventListener("submit", (e) => { if (!checkJson(area)) { e.preventDefault(); area.focus(); } });
      const typed = $("#answer-form");
      for (const input of typed ? $$("textarea[data-json]", typed) : []) input.addEventListener("input", () => checkJson(input));
      keymap.e = () => ($("#answer-form .field input, #answer-form .field select, #answer-form .field textarea") || area).focus();
    }
  }

  function checkJson(area) {
    let problem = "";
    if (area.value.trim() || area.required) {
      try { JSON.parse(area.value); } catch (err) { problem = "Not JSON: " + err.message; }
    }
    area.setCustomValidity(problem);
    const note = area.parentElement.querySelector(".problem");
    if (note) note.textContent = problem;
    return !problem;
  }

  /** The arguments a call's typed fields describe (as the server reads them), or null. */
  function typedArgs(section) {
    const out = {};
    for (const field of $$(".field", section)) {
      const name = field.dataset.arg, kind = field.dataset.kind, present = field.dataset.present === "1";
      const input = $("input, select, textarea", field);
      if (kind === "checkbox") { if (input.checked || present) out[name] = input.checked; continue; }
      const text = input.value;
      const blank = !text.trim();
      if ((blank && kind !== "text" && kind !== "textarea") || (blank && !present)) continue;
      if (kind === "integer" || kind === "number") out[name] = Number(text);
      else if (kind === "select" || kind === "json") { try { out[name] = JSON.parse(text); } catch { out[name] = text; } }
      else out[name] = text;
    }
    return out;
  }
  const sortedJson = (value) => JSON.stringify(value, (k, v) => (v && typeof v === "object" && !Array.isArray(v)
    ? Object.fromEntries(Object.keys(v).sort().map((key) => [key, v[key]])) : v), 2);

  function review(form) {
    const sections = $$("section.call", form);
    const single = sections.length === 1;
    const edited = new Set();

    function showDiff(section) {
      const i = section.dataset.index;
      const view = $("#diff_" + i);
      const raw = $("#args_" + i);
      let before, after;
      if (raw) { before = raw.dataset.original; after = raw.value; }
      else {
        before = sortedJson(JSON.parse(section.dataset.original));
        after = sortedJson(typedArgs(section));
        const original = JSON.parse(section.dataset.original), now = typedArgs(section);
        for (const field of $$(".field", section)) {
          const was = field.dataset.present === "1" ? original[field.dataset.arg] : undefined;
          field.classList.toggle("changed", JSON.stringify(was) !== JSON.stringify(now[field.dataset.arg]));
        }
      }
      const changed = before !== after;
      changed ? edited.add(i) : edited.delete(i);
      view.hidden = !changed;
      view.replaceChildren();
      if (changed) {
        const a = before.split("\n"), b = after.split("\n");
        if (a.length * b.length > 250000) {
          const row = document.createElement("div");
          row.textContent = "(changed; too long to compare line by line as you type)";
          view.appendChild(row);
        } else {
          for (const [mark, line] of lineDiff(a, b)) {
            const row = document.createElement("div");
            row.className = mark === "+" ? "add" : mark === "-" ? "del" : "same";
            row.textContent = mark + " " + line;  // text, never HTML
            view.appendChild(row);
          }
        }
      }
      if (!single && changed) {
        const edit = $(`input[name=decision_${i}][value=edit]`, section);
        if (edit) { edit.checked = true; reasons(); }
      }
      buttons();
    }

    function buttons() {
      if (!single) return;
      const approve = $("#do-approve"), edit = $("#do-edit"), hint = $("#edit-hint");
      const changed = edited.size > 0;
      if (approve) approve.disabled = changed;
      if (edit) edit.disabled = !changed;
      if (hint) hint.textContent = changed ? "You changed the arguments: Edit & approve runs your version." : "";
    }

    // the reason field appears when a reject or respond needs it
    function reasons(force) {
      for (const section of sections) {
        const i = section.dataset.index;
        const choice = single ? force : ($(`input[name=decision_${i}]:checked`, section) || {}).value;
        const box = $("#reason_" + i), area = $("#message_" + i), label = $("#message_label_" + i);
        const needed = choice === "reject" || choice === "respond";
        box.hidden = !needed;
        area.required = needed;
        label.textContent = choice === "respond" ? "Your answer (the agent reads it instead of a tool result)" : "Reason (the agent reads it)";
      }
    }
    reasons(null);

    for (const section of sections) {
      for (const input of $$(".field input, .field select, .field textarea, textarea[data-json]", section)) {
        input.addEventListener("input", () => {
          if (input.dataset.json) checkJson(input);
          const note = input.closest(".field")?.querySelector(".problem");
          if (note && !input.dataset.json) note.textContent = input.validationMessage;
          showDiff(section);
        });
        input.addEventListener("change", () => showDiff(section));
      }
      $$("input[type=radio]", section).forEach((r) => r.addEventListener("change", () => reasons()));
      showDiff(section);
    }

    // Reject / Respond: the first press asks for the reason, the second sends it
    let pending = null;
    const labels = {};
    for (const kind of ["reject", "respond"]) {
      const b = $("#do-" + kind);
      if (b) labels[kind] = Array.from(b.childNodes, (n) => n.cloneNode(true));
    }
    form.addEventListener("submit", (e) => {
      const button = e.submitter;
      const kind = button ? button.value : null;
      if (single && (kind === "reject" || kind === "respond")) {
        const area = $("#message_0");
        if (pending !== kind || !area.value.trim()) {
          e.preventDefault();
          const other = pending && $("#do-" + pending);
          if (other && other !== button) other.replaceChildren(...labels[pending]);
          pending = kind;
          reasons(kind);
          area.focus();
          button.textContent = kind === "reject" ? "Send rejection" : "Send answer";
          return;
        }
      }
      for (const area of $$("textarea[data-json]", form)) {
        if (!checkJson(area) && !(button && button.formNoValidate)) { e.preventDefault(); area.focus(); return; }
      }
      if (!single) {  // multi-call: the reason of a reject / respond is needed
        for (const section of sections) {
          const area = $("#message_" + section.dataset.index);
          if (area.required && !area.value.trim()) { e.preventDefault(); area.focus(); area.reportValidity(); return; }
        }
      }
    });
    // Enter in the reason field sends it (with the button that asked for it)
    for (const section of sections) {
      $("#message_" + section.dataset.index).addEventListener("keydown", (e) => {
        if (e.key === "Enter" && !e.shiftKey && single && pending) {
          e.preventDefault();
          form.requestSubmit($("#do-" + pending));
        }
      });
    }

    const press = (kind) => () => { const b = $("#do-" + kind); if (b && !b.disabled) b.click(); };
    if (single) {
      keymap.a = press("approve");
      keymap.r = press("reject");
      keymap.s = press("respond");
    }
    keymap.e = () => { const first = $(".field input, .field select, .field textarea, textarea[data-json]", form); if (first) first.focus(); };
  }

  // the diff of an edit, line by line (longest common subsequence)
  function lineDiff(a, b) {
    const n = a.length, m = b.length, best = [];
    for (let i = 0; i <= n; i++) best.push(new Array(m + 1).fill(0));
    for (let i = n - 1; i >= 0; i--)
      for (let j = m - 1; j >= 0; j--)
        best[i][j] = a[i] === b[j] ? best[i + 1][j + 1] + 1 : Math.max(best[i + 1][j], best[i][j + 1]);
    const out = [];
    let i = 0, j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && a[i] === b[j]) { out.push([" ", a[i]]); i++; j++; }
      else if (j < m && (i === n || best[i][j + 1] >= best[i + 1][j])) { out.push(["+", b[j]]); j++; }
      else { out.push(["-", a[i]]); i++; }
    }
    return out;
  }

  if (page === "list") list();
  if (page === "request") request();
  tick();
})();
