// The housekeeping board in the browser: no framework, no build step.
// - live: server-sent events carry redrawn cards; the page swaps them in place
// - offline: the last board stays on screen, marked with the time it was last current;
//   actions go to a queue in localStorage, each with its own idempotency key, and are sent
//   in order when the connection returns (the server counts a key once, so a resend after
//   a lost answer never doubles an action)
"use strict";

(function () {
  const QUEUE = "board_queue";
  const FILTER = "board_filter";
  const FLOOR = "board_floor";
  const MAX_PHOTO = 160 * 1024;
  const body = document.body;

  function newKey() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes); // works on plain-http LAN pages too, unlike randomUUID
    return "hk-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function toast(text, bad) {
    const el = document.getElementById("toast");
    if (!el) return;
    el.textContent = text;
    el.className = bad ? "toast bad" : "toast";
    el.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { el.hidden = true; }, 4000);
  }

  // --- sign-in page ---------------------------------------------------------------------
  const login = document.getElementById("login");
  if (login) {
    login.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const error = document.getElementById("login-error");
      error.textContent = "";
      try {
        const r = await fetch("/board/api/session", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ api_key: login.api_key.value.trim() }),
        });
        if (r.ok) {
          location.href = "/board";
          return;
        }
        const data = await r.json().catch(() => ({}));
        error.textContent = (data.error && data.error.message) || "HTTP " + r.status;
      } catch (e) {
        error.textContent = String(e);
      }
    });
    return;
  }
  if (!document.getElementById("grid")) return;

  const words = JSON.parse(document.getElementById("words").textContent);
  const me = body.dataset.me;
  let lastCurrent = new Date();
  let online = true;

  // --- filters ----------------------------------------------------------------------------
  const floorSelect = document.getElementById("my-floor");
  if (localStorage.getItem(FLOOR) !== null) floorSelect.value = localStorage.getItem(FLOOR);
  let filter = localStorage.getItem(FILTER) || "all";

  function visible(card) {
    const d = card.dataset;
    if (filter === "floor") return d.floor === floorSelect.value;
    if (filter === "mine") return d.assigned === me;
    if (filter === "dirty") return d.needs === "1";
    if (filter === "alerts") return d.alerts === "1";
    return true;
  }

  function applyFilter() {
    document.querySelectorAll("#filters [data-filter]").forEach((b) => {
      b.classList.toggle("on", b.dataset.filter === filter);
    });
    document.querySelectorAll(".floor").forEach((floor) => {
      let any = false;
      floor.querySelectorAll(".card").forEach((card) => {
        const show = visible(card);
        card.hidden = !show;
        any = any || show;
      });
      floor.hidden = !any;
    });
  }

  document.getElementById("filters").addEventListener("click", (ev) => {
    const b = ev.target.closest("[data-filter]");
    if (!b) return;
    filter = b.dataset.filter;
    localStorage.setItem(FILTER, filter);
    applyFilter();
  });
  floorSelect.addEventListener("change", () => {
    localStorage.setItem(FLOOR, floorSelect.value);
    applyFilter();
  });

  // --- the offline banner -------------------------------------------------------------------
  function pending() {
    try {
      return JSON.parse(localStorage.getItem(QUEUE) || "[]");
    } catch (e) {
      return [];
    }
  }

  function showState() {
    const el = document.getElementById("offline");
    const waiting = pending().length;
    const hhmm = lastCurrent.toTimeString().slice(0, 5);
    const parts = [];
    if (!online) parts.push(words.offline + " " + hhmm);
    if (waiting) parts.push(waiting + " " + words.waiting_actions);
    el.textContent = parts.join(" · ");
    el.hidden = parts.length === 0;
    body.classList.toggle("is-offline", !online);
  }

  function setOnline(value) {
    if (online === value) return;
    online = value;
    showState();
    if (online) flush();
  }

  // --- live feed ----------------------------------------------------------------------------
  function swapCard(room, html) {
    const old = document.getElementById("room-" + room);
    const tpl = document.createElement("template");
    tpl.innerHTML = html.trim();
    const card = tpl.content.firstElementChild;
    if (old) {
      const open = old.querySelector("details[open]");
      if (open) card.querySelector("details") && card.querySelector("details").setAttribute("open", "");
      old.replaceWith(card);
    } else {
      location.reload(); // a room new to this board: draw the floors again
    }
  }

  let dropTimer = null;
  const source = new EventSource("/board/events?after=" + body.dataset.seq);
  source.addEventListener("open", () => {
    clearTimeout(dropTimer);
    lastCurrent = new Date();
    setOnline(true);
  });
  source.addEventListener("rooms", (ev) => {
    const data = JSON.parse(ev.data);
    Object.entries(data.cards).forEach(([room, html]) => swapCard(room, html));
    document.getElementById("priority-box").innerHTML = data.priority;
    lastCurrent = new Date();
    body.dataset.seq = ev.lastEventId;
    applyFilter();
  });
  source.addEventListener("error", () => {
    // Streams end every 25 s and reopen at once: only a gap that lasts is "offline".
    clearTimeout(dropTimer);
    dropTimer = setTimeout(async () => {
      if (source.readyState !== EventSource.OPEN) setOnline(false);
      if (source.readyState === EventSource.CLOSED) {
        // The server refused the stream (it does not retry then): a lapsed session signs
        // in again; anything else reloads the page once the server answers.
        const r = await fetch("/board/api/rooms").catch(() => null);
        if (r && r.status === 401) location.href = "/board/login";
        else if (r && r.ok) location.reload();
      }
    }, 1500);
  });
  window.addEventListener("offline", () => setOnline(false));
  window.addEventListener("online", () => flush());

  // --- actions and the offline queue ------------------------------------------------------------
  function enqueue(url, payload, room) {
    const queue = pending();
    queue.push({ key: newKey(), url: url, body: payload, room: room });
    localStorage.setItem(QUEUE, JSON.stringify(queue));
    const card = document.getElementById("room-" + room);
    if (card) card.classList.add("pending");
    showState();
    flush();
  }

  let flushing = false;
  async function flush() {
    if (flushing) return;
    flushing = true;
    try {
      for (;;) {
        const queue = pending();
        if (!queue.length) break;
        const item = queue[0];
        let r;
        try {
          r = await fetch(item.url, {
            method: "POST",
            headers: {
              "Content-Type": "application/json",
              "Idempotency-Key": item.key,
              "X-Board": "1",
            },
            body: JSON.stringify(item.body),
          });
        } catch (e) {
          setOnline(false); // no answer: keep it, try again when the connection returns
          toast(words.queued_action);
          break;
        }
        if (r.status === 401) {
          location.href = "/board/login"; // the queue waits in localStorage
          break;
        }
        const rest = pending().filter((q) => q.key !== item.key);
        localStorage.setItem(QUEUE, JSON.stringify(rest));
        setOnline(true);
        if (r.ok) {
          toast(words.sent);
        } else {
          const data = await r.json().catch(() => ({}));
          toast(words.refused + ": " + ((data.error && data.error.message) || r.status), true);
          const card = document.getElementById("room-" + item.room);
          if (card) card.classList.remove("pending");
        }
      }
    } finally {
      flushing = false;
      showState();
    }
  }
  setInterval(() => { if (pending().length) flush(); }, 3000);

  function formData(form) {
    const out = {};
    new FormData(form).forEach((v, k) => { if (typeof v === "string") out[k] = v; });
    return out;
  }

  async function shrink(file) {
    // Camera photos are megabytes: redraw at most 1024 px wide as JPEG until it fits.
    const bitmap = await createImageBitmap(file);
    let size = Math.min(1024, Math.max(bitmap.width, bitmap.height));
    for (let quality = 0.8; ; quality -= 0.15) {
      const scale = size / Math.max(bitmap.width, bitmap.height);
      const canvas = document.createElement("canvas");
      canvas.width = Math.round(bitmap.width * scale);
      canvas.height = Math.round(bitmap.height * scale);
      canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      const blob = await new Promise((ok) => canvas.toBlob(ok, "image/jpeg", quality));
      if (blob.size <= MAX_PHOTO || quality < 0.3) {
        const bytes = new Uint8Array(await blob.arrayBuffer());
        let bin = "";
        bytes.forEach((b) => { bin += String.fromCharCode(b); });
        return btoa(bin);
      }
      size = Math.round(size * 0.75);
    }
  }

  document.getElementById("grid").addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-act]");
    if (!b) return;
    const card = b.closest(".card");
    const room = card.dataset.room;
    const act = b.dataset.act;
    const payload = { kind: act, room_id: room };
    if (act === "inspect") payload.passed = b.dataset.passed === "1";
    if (act === "deliver_benefit") payload.benefit_id = b.dataset.benefit;
    enqueue("/board/api/actions", payload, room);
  });

  document.getElementById("grid").addEventListener("submit", async (ev) => {
    const form = ev.target.closest("form[data-act]");
    if (!form) return;
    ev.preventDefault();
    const room = form.closest(".card").dataset.room;
    const fields = formData(form);
    if (form.dataset.act === "problem") {
      const payload = { text: fields.text };
      const file = form.photo.files[0];
      if (file) {
        payload.photo_type = "image/jpeg";
        payload.photo_b64 = await shrink(file);
      }
      enqueue("/board/api/rooms/" + encodeURIComponent(room) + "/problems", payload, room);
    } else {
      enqueue("/board/api/actions", Object.assign({ kind: form.dataset.act, room_id: room }, fields), room);
    }
    form.reset();
  });

  const rule = document.getElementById("require-inspected");
  if (rule) {
    rule.addEventListener("change", async () => {
      const r = await fetch("/board/api/settings", {
        method: "PUT",
        headers: { "Content-Type": "application/json", "X-Board": "1" },
        body: JSON.stringify({ require_inspected: rule.checked }),
      }).catch(() => null);
      if (!r || !r.ok) {
        rule.checked = !rule.checked;
        toast(words.refused, true);
      }
    });
  }

  document.getElementById("sign-out").addEventListener("click", async () => {
    await fetch("/board/api/session", { method: "DELETE", headers: { "X-Board": "1" } }).catch(() => null);
    location.href = "/board/login";
  });

  applyFilter();
  showState();
  flush();
})();
