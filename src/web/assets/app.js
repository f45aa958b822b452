// chartrack pages: the live feed (Server-Sent Events), the wall and display pages' refresh, the browser
// scan page, and admin forms that post JSON or upload a CSV. No inline script anywhere (CSP).
"use strict";

function csrf() {
  const m = document.querySelector('meta[name="csrf-token"]');
  return m ? m.content : "";
}

// A random UUID even where crypto.randomUUID is missing (plain http on a hospital network).
function uuid() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// A live page's stream. The page says "live" only while the stream is open. When the stream
// fails, the page asks whether its access still holds (the probe, /session or the display's
// /display/session, answers 401 once it has ended): if it has ended, or the server said so with
// a `signed-out` event, the stream is closed for good, nothing refreshes any more, the page's
// lists are taken away and a notice says what happened. Otherwise it says "reconnecting" and
// the stream is opened again.
function liveStream(url, state, handlers, message) {
  const probe = document.body.dataset.probe || "/session";
  let es = null;
  let over = false;
  let again = null;
  const say = (s, text) => { if (state) { state.dataset.state = s; state.textContent = text; } };
  const signedOut = () => {
    if (over) return;
    over = true;
    if (es) es.close();
    if (again) clearTimeout(again);
    say("out", "signed out");
    signedOutNotice(message);
  };
  // true: still signed in, or the server cannot tell us now (try again later).
  const stillIn = async () => {
    try {
      const r = await fetch(probe, { credentials: "same-origin", cache: "no-store" });
      if (r.status === 401) { signedOut(); return false; }
    } catch (_) { /* unreachable: not a sign-out */ }
    return true;
  };
  const open = () => {
    es = new EventSource(url);
    es.onopen = () => { if (!over) say("live", "live"); };
    es.onerror = () => {
      if (over) return;
      say("down", "reconnecting");
      if (es.readyState === EventSource.CLOSED) {
        // The browser gave up (the server refused the stream): ask, then open it anew.
        again = setTimeout(async () => { again = null; if (await stillIn() && !over) open(); }, 2000);
      } else {
        stillIn(); // the browser reconnects by itself; a sign-out still ends it here
      }
    };
    es.addEventListener("signed-out", signedOut);
    Object.entries(handlers).forEach(([name, f]) => es.addEventListener(name, (e) => { if (!over) f(e); }));
  };
  open();
  // Leaving the page closes its stream at once. A page kept for the back button (the
  // back/forward cache) would otherwise hold its connection open, and a browser has only six
  // to one server: a clerk moving from chart to chart would find the seventh page waiting a
  // minute. Coming back to a kept page opens the stream again.
  window.addEventListener("pagehide", () => { if (es) es.close(); es = null; });
  window.addEventListener("pageshow", (e) => { if (e.persisted && !over) open(); });
  // A list fragment, fetched to replace `id`: replaced only by a fragment, never by an error
  // or sign-in page; a 401 is a sign-out.
  const refetch = async (src, id) => {
    if (over) return;
    let r = null;
    try { r = await fetch(src, { credentials: "same-origin", cache: "no-store" }); } catch (_) { return; }
    if (r.status === 401) { signedOut(); return; }
    // Led anywhere else (an older server's sign-in redirect): never put that page in the list.
    if (r.redirected) { if (new URL(r.url).pathname === "/login") signedOut(); return; }
    const el = document.getElementById(id);
    if (r.ok && el && !over) el.outerHTML = await r.text();
  };
  return { refetch, signedOut };
}

// The page's access ended: no more patient data on it, and one clear sentence instead.
function signedOutNotice(message) {
  const main = document.querySelector("main");
  if (!main || document.querySelector(".signed-out")) return;
  const box = document.createElement("div");
  box.className = "signed-out";
  box.setAttribute("role", "alert");
  const p = document.createElement("p");
  p.textContent = message || "Your session ended, so this page stopped updating.";
  box.append(p);
  if (!message) {
    const a = document.createElement("a");
    a.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
    a.textContent = "Sign in again";
    a.className = "button";
    box.append(a);
  }
  main.replaceChildren(box);
  const who = document.querySelector("header.top");
  if (who) who.remove();
  document.title = "Signed out · chartrack";
}

// The dashboard's live feed, and on a wall page the list refreshed after scans.
function liveFeed() {
  const list = document.getElementById("feed");
  if (!list || !window.EventSource) return;
  const wall = document.querySelector("[data-wall]");
  let refresh = null;
  let live = null;
  live = liveStream(list.dataset.feed, document.querySelector(".feed .live"), {
    scan: (e) => {
      document.dispatchEvent(new Event("chartrack:scan"));
      // The server sends the line already rendered and escaped.
      list.insertAdjacentHTML("afterbegin", e.data);
      while (list.children.length > 50) list.lastElementChild.remove();
      if (wall && !refresh) {
        refresh = setTimeout(() => { refresh = null; live.refetch(wall.dataset.wall, "wall-list"); }, 3000);
      }
    },
  });
}

// The dashboard's counts: refetched a few seconds after scans arrive (at most every 5 s) and
// every 30 s (requests and reports change them too). Stops when the session has ended.
function liveCounts() {
  if (!document.querySelector("[data-counts]")) return;
  let due = null, last = 0, stopped = false;
  const refresh = async () => {
    due = null;
    const tiles = document.querySelector("[data-counts]");
    if (stopped || !tiles) return;
    last = Date.now();
    try {
      const r = await fetch(tiles.dataset.counts, { credentials: "same-origin", redirect: "manual" });
      if (r.status === 401 || r.type === "opaqueredirect") { stopped = true; return; }
      if (r.ok) tiles.outerHTML = await r.text();
    } catch (_) { /* unreachable: the next one tries again */ }
  };
  const soon = () => { if (!due) due = setTimeout(refresh, Math.max(2000, 5000 - (Date.now() - last))); };
  document.addEventListener("chartrack:scan", soon);
  setInterval(soon, 30000);
}

// A wall display's page (web::display): its list refreshed after scans; signed out when the
// display is revoked.
function displayPage() {
  const page = document.querySelector("[data-display]");
  if (!page || !window.EventSource) return;
  let refresh = null;
  let live = null;
  live = liveStream(page.dataset.display, page.querySelector(".live"), {
    changed: () => {
      if (refresh) return;
      refresh = setTimeout(() => { refresh = null; live.refetch(page.dataset.wall, "wall-list"); }, 3000);
    },
  }, page.dataset.signedOut);
}

// Say it aloud. `interrupt` cuts off what is being said; a refusal is queued behind it instead,
// so that a burst's refused scan is heard even when more answers follow.
function speak(text, interrupt = true) {
  if (!window.speechSynthesis) return;
  try {
    if (interrupt) speechSynthesis.cancel();
    speechSynthesis.speak(new SpeechSynthesisUtterance(text));
  } catch (_) { /* no voice: the screen still says it */ }
}

// The browser scan page. A keyboard-wedge scanner types a barcode and Enter in a few
// milliseconds, and has already beeped: the page must keep every line. Each line goes into a
// queue with its own scan id (made once, so a retry is recorded once) and the time it was
// scanned; the queue is sent one line at a time, in order. The input never stops taking keys.
// A line the server cannot take now (unreachable, 5xx) stays at the head and is retried; the
// queue is kept in sessionStorage, so a reload or a sign-in on this tab does not lose it.
function scanPage() {
  const box = document.querySelector(".scanner");
  if (!box) return;
  const input = document.getElementById("scan-input");
  const answer = document.getElementById("answer");
  const history = document.getElementById("history");
  const waiting = document.getElementById("waiting");
  const station = box.dataset.station;
  const key = "chartrack.scan-queue." + station;
  let queue = [];
  try { queue = JSON.parse(sessionStorage.getItem(key) || "[]"); } catch (_) { queue = []; }
  if (!Array.isArray(queue)) queue = [];
  let sending = false;     // a line is on its way
  let retry = null;        // the timer of the next attempt after a failure
  let backoff = 0;         // ms before the next attempt; 0 while all is well
  let stopped = false;     // signed out, or refused for a reason of the page's (kept; reload)
  let leaving = false;
  let refusedInBurst = 0;  // refusals since the queue was last empty

  const save = () => {
    try {
      if (queue.length) sessionStorage.setItem(key, JSON.stringify(queue));
      else sessionStorage.removeItem(key);
    } catch (_) { /* storage full or off: the queue still lives in this page */ }
  };
  const show = (kind, verdict, message) => {
    answer.className = "answer " + kind;
    answer.querySelector(".verdict").textContent = verdict;
    answer.querySelector(".message").textContent = message;
  };
  // How many scans wait behind the one on its way (all of them while sending is failing).
  const showWaiting = () => {
    const n = queue.length - (sending && !backoff ? 1 : 0);
    waiting.textContent = n > 0 ? n + " waiting" : "";
    waiting.hidden = n <= 0;
    waiting.className = "waiting" + (backoff ? " stuck" : "");
  };
  const note = (cls, barcode, message) => {
    const li = document.createElement("li");
    li.className = cls;
    const code = document.createElement("span");
    code.className = "code";
    code.textContent = barcode;
    li.append(code, " — " + message);
    history.prepend(li);
    while (history.children.length > 20) history.lastElementChild.remove();
  };
  const kept = () => {
    const n = queue.length;
    return n === 1 ? "1 scan is kept on this page" : n + " scans are kept on this page";
  };

  // A failure the server may get over (unreachable, 5xx): keep the line, say so, try again.
  const failed = (why) => {
    const first = backoff === 0;
    backoff = first ? 1000 : Math.min(backoff * 2, 10000);
    show("retrying", "Not sent yet",
      why + " " + kept() + " and will be sent in order when it answers. Keep scanning.");
    if (first) speak("Not sent yet. " + why + " The scans are kept.");
    retry = setTimeout(() => { retry = null; pump(); }, backoff);
  };

  // The answer to a line: listed always; shown big and spoken when it is the latest (a refusal
  // is spoken even in a burst, and the latest answer says if any earlier one was refused).
  const answered = (item, body) => {
    const warn = (body.warnings || []).join(" ");
    const message = [body.message, warn].filter(Boolean).join(" ");
    note(body.accepted ? "ok" : "refused", item.barcode, message);
    if (!body.accepted) refusedInBurst += 1;
    if (body.mode) document.getElementById("mode").textContent = body.mode;
    const latest = queue.length === 0;
    if (latest && !body.accepted) refusedInBurst = 0;
    let shown = message;
    if (latest && body.accepted && refusedInBurst > 0) {
      shown += " (" + refusedInBurst + " earlier scan" + (refusedInBurst > 1 ? "s" : "") + " refused: see the list below)";
    }
    // A chart checked in to go back on its shelf: where, in the biggest type on the page.
    const verdict = !body.accepted ? "Refused" : body.shelve_at ? "Shelve at " + body.shelve_at : "Done";
    show((body.accepted ? "accepted" : "refused") + (warn || (latest && refusedInBurst) ? " warning" : ""),
      verdict, shown);
    if (!body.accepted) speak("Refused. " + message, false);
    else if (latest) speak(message, refusedInBurst === 0);
    if (latest) refusedInBurst = 0;
  };

  async function pump() {
    if (sending || retry || stopped || !queue.length) { showWaiting(); return; }
    const item = queue[0];
    sending = true;
    showWaiting();
    if (!backoff) show("waiting", "…", item.barcode);
    let r = null;
    let body = {};
    const ctl = window.AbortController ? new AbortController() : null;
    const timer = ctl ? setTimeout(() => ctl.abort(), 15000) : null;
    try {
      r = await fetch("/api/v1/scans", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
        // The workstation's clock dates only a line that waited (a slow or cut network, a
        // sign-in): a line sent at once is dated by the server, whose clock is the one trusted.
        body: JSON.stringify({ station, barcode: item.barcode, id: item.id,
          scanned_at: Date.now() - Date.parse(item.at) > 2000 ? item.at : undefined }),
        signal: ctl ? ctl.signal : undefined,
      });
      body = await r.json().catch(() => ({}));
    } catch (_) {
      // Unreachable, no answer within 15 s, or the answer was lost on the way: the same id is
      // sent again, so a scan that did arrive is still recorded once.
      r = null;
    }
    if (timer) clearTimeout(timer);
    sending = false;
    if (r && r.ok) {
      backoff = 0;
      queue.shift();
      save();
      answered(item, body);
    } else if (r && r.status === 401) {
      stopped = true;
      show("refused", "Signed out",
        "Your session ended. " + kept() + ": sign in again and they will be sent.");
      speak("Signed out. Sign in again.");
      setTimeout(() => {
        leaving = true;
        location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
      }, 2500);
    } else if (!r || r.status >= 500 || r.status === 408 || r.status === 429) {
      failed(r ? "The server answered " + r.status + "." : "The server cannot be reached.");
    } else if (r.status === 403 || r.status === 404) {
      // Refused for the page's sake, not the line's (a stale page, a role, a station that names
      // who may use it, a station removed): sending again will not help, dropping the line would
      // lose it. Keep them, say why, and stop; a reload sends them once the station takes them.
      stopped = true;
      const why = body.error || ("The server answered " + r.status + ".");
      show("refused", "Not sent", why + " " + kept() + ": reload the page to send them.");
      speak("Not sent. " + why);
    } else {
      // The server refused the request itself (not the scan): sending it again would not help.
      backoff = 0;
      queue.shift();
      save();
      const why = body.error || ("The server answered " + r.status);
      refusedInBurst += 1;
      note("refused", item.barcode, "not recorded: " + why);
      show("refused", "Not recorded", item.barcode + ": " + why);
      speak("Not recorded. " + why, false);
    }
    showWaiting();
    pump();
  }

  // The input keeps focus: a scanner types wherever the focus is.
  const refocus = () => { if (document.activeElement !== input) input.focus(); };
  input.addEventListener("blur", () => setTimeout(refocus, 50));
  setInterval(refocus, 1000);
  input.addEventListener("keydown", (e) => {
    if (e.key !== "Enter") return;
    e.preventDefault();
    const barcode = input.value.trim();
    input.value = "";
    if (!barcode) return;
    queue.push({ barcode, id: uuid(), at: new Date().toISOString() });
    save();
    pump();
  });
  window.addEventListener("online", () => {
    if (retry) { clearTimeout(retry); retry = null; pump(); }
  });
  window.addEventListener("beforeunload", (e) => {
    if (queue.length && !leaving) e.preventDefault(); // kept for this tab, but closing it loses them
  });
  // The camera fallback: a photo of the label, read by the server and recorded like a scan.
  // Sent at once (a photo is not kept on the page); when it cannot be sent, say so.
  const camera = document.getElementById("camera-input");
  if (camera) camera.addEventListener("change", async () => {
    const file = camera.files[0];
    camera.value = "";
    if (!file) return;
    show("waiting", "…", "Reading the photo");
    let r = null;
    let body = {};
    try {
      r = await fetch("/api/v1/scans/image?station=" + encodeURIComponent(station) + "&id=" + uuid(), {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": file.type || "application/octet-stream", "X-CSRF-Token": csrf() },
        body: file,
      });
      body = await r.json().catch(() => ({}));
    } catch (_) {
      r = null;
    }
    if (r && r.ok) {
      answered({ barcode: (body.volume && body.volume.barcode) || "photo" }, body);
    } else {
      const why = body.error || (r ? "The server answered " + r.status + "." : "The server cannot be reached: take the photo again when it answers.");
      note("refused", "photo", "not recorded: " + why);
      show("refused", "Not recorded", why);
      speak("Not recorded. " + why, false);
    }
    refocus();
  });
  if (queue.length) show("retrying", "Sending", kept() + " from before; sending them now.");
  pump();
}

function jsonForms() {
  document.querySelectorAll("form[data-json-post]").forEach((form) => {
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const out = form.querySelector("output");
      const data = {};
      new FormData(form).forEach((v, k) => { if (v !== "") data[k] = v; });
      form.querySelectorAll("input[type=checkbox]").forEach((c) => { data[c.name] = c.checked; });
      const r = await fetch(form.dataset.jsonPost, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
        body: JSON.stringify(data),
      });
      const body = await r.json().catch(() => ({}));
      out.className = "result " + (r.ok ? "ok" : "error");
      out.textContent = r.ok ? "Registered: " + (body.barcode || "") : (body.error || "Refused (" + r.status + ")");
    });
  });
}

function uploads() {
  document.querySelectorAll("form[data-upload]").forEach((form) => {
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const bar = form.querySelector("progress");
      const out = form.querySelector("output");
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.dataset.upload);
      xhr.setRequestHeader("X-CSRF-Token", csrf());
      bar.hidden = false; bar.value = 0;
      xhr.upload.onprogress = (p) => { if (p.lengthComputable) bar.value = Math.round((p.loaded / p.total) * 100); };
      xhr.onload = () => {
        bar.value = 100;
        out.className = "result " + (xhr.status === 200 ? "ok" : "error");
        out.textContent = xhr.responseText; // per-line errors, one per line
      };
      xhr.onerror = () => { out.className = "result error"; out.textContent = "The upload failed: the server cannot be reached."; };
      xhr.send(new FormData(form));
    });
  });
}

// A floor's requests: refetch the list whenever one of them changes (pulled, delivered, ...).
function requestsFloor() {
  const floor = document.querySelector("[data-requests]");
  if (!floor || !window.EventSource) return;
  let refresh = null;
  let live = null;
  live = liveStream(floor.dataset.requests, floor.querySelector(".live"), {
    request: () => {
      if (refresh) return;
      refresh = setTimeout(() => { refresh = null; live.refetch(floor.dataset.list, "request-list"); }, 250);
    },
  });
}

function printButtons() {
  document.querySelectorAll("[data-print]").forEach((b) => b.addEventListener("click", () => window.print()));
}

// A form that undoes someone's work (cancelling a request) asks first. Delegated from the
// document, so it holds for lists the page replaces live.
function confirmations() {
  document.addEventListener("submit", (e) => {
    const form = e.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) e.preventDefault();
  });
}

document.addEventListener("DOMContentLoaded", () => { liveFeed(); liveCounts(); displayPage(); scanPage(); jsonForms(); uploads(); requestsFloor(); printButtons(); confirmations(); });
