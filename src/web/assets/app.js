// chartrack pages: the live feed (Server-Sent Events), the wall display's refresh, the browser
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

function liveFeed() {
  const list = document.getElementById("feed");
  if (!list || !window.EventSource) return;
  const state = document.querySelector(".feed .live");
  const wall = document.querySelector("[data-wall]");
  let refresh = null;
  const es = new EventSource(list.dataset.feed);
  es.onopen = () => { if (state) { state.dataset.state = "live"; state.textContent = "live"; } };
  es.onerror = () => { if (state) { state.dataset.state = "down"; state.textContent = "reconnecting"; } };
  es.addEventListener("scan", (e) => {
    // The server sends the line already rendered and escaped.
    list.insertAdjacentHTML("afterbegin", e.data);
    while (list.children.length > 50) list.lastElementChild.remove();
    if (wall && !refresh) {
      refresh = setTimeout(async () => {
        refresh = null;
        const r = await fetch(wall.dataset.wall, { credentials: "same-origin" });
        if (r.ok) document.getElementById("wall-list").outerHTML = await r.text();
      }, 3000);
    }
  });
}

function speak(text) {
  if (!window.speechSynthesis) return;
  try {
    speechSynthesis.cancel();
    speechSynthesis.speak(new SpeechSynthesisUtterance(text));
  } catch (_) { /* no voice: the screen still says it */ }
}

function scanPage() {
  const box = document.querySelector(".scanner");
  if (!box) return;
  const input = document.getElementById("scan-input");
  const answer = document.getElementById("answer");
  const history = document.getElementById("history");
  const station = box.dataset.station;
  let busy = false;
  const show = (kind, verdict, message) => {
    answer.className = "answer " + kind;
    answer.querySelector(".verdict").textContent = verdict;
    answer.querySelector(".message").textContent = message;
  };
  // The input keeps focus: a scanner types wherever the focus is.
  const refocus = () => { if (document.activeElement !== input) input.focus(); };
  input.addEventListener("blur", () => setTimeout(refocus, 50));
  setInterval(refocus, 1000);
  input.addEventListener("keydown", async (e) => {
    if (busy) { e.preventDefault(); return; } // a scan is in flight: a double read is one scan
    if (e.key !== "Enter") return;
    e.preventDefault();
    const barcode = input.value.trim();
    input.value = "";
    if (!barcode) return;
    busy = true;
    input.readOnly = true;
    show("waiting", "…", barcode);
    try {
      const r = await fetch("/api/v1/scans", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
        body: JSON.stringify({ station, barcode, id: uuid() }),
      });
      const body = await r.json().catch(() => ({}));
      if (r.ok) {
        const warn = (body.warnings || []).join(" ");
        const message = [body.message, warn].filter(Boolean).join(" ");
        show((body.accepted ? "accepted" : "refused") + (warn ? " warning" : ""), body.accepted ? "Done" : "Refused", message);
        speak((body.accepted ? "" : "Refused. ") + message);
        const li = document.createElement("li");
        li.className = body.accepted ? "ok" : "refused";
        li.textContent = message;
        history.prepend(li);
        while (history.children.length > 20) history.lastElementChild.remove();
        if (body.mode) document.getElementById("mode").textContent = body.mode;
      } else if (r.status === 401) {
        show("refused", "Signed out", "Your session ended. Sign in again to keep scanning.");
        speak("Signed out. Sign in again.");
        setTimeout(() => { location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search); }, 2500);
      } else {
        show("refused", "Not recorded", body.error || ("The server answered " + r.status));
        speak("Not recorded. " + (body.error || ""));
      }
    } catch (err) {
      show("refused", "Not recorded", "The server cannot be reached. Scan it again when it is back.");
      speak("Not recorded. The server cannot be reached.");
    } finally {
      busy = false;
      input.readOnly = false;
      input.focus();
    }
  });
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
  const state = floor.querySelector(".live");
  let refresh = null;
  const es = new EventSource(floor.dataset.requests);
  es.onopen = () => { if (state) { state.dataset.state = "live"; state.textContent = "live"; } };
  es.onerror = () => { if (state) { state.dataset.state = "down"; state.textContent = "reconnecting"; } };
  es.addEventListener("request", () => {
    if (refresh) return;
    refresh = setTimeout(async () => {
      refresh = null;
      const r = await fetch(floor.dataset.list, { credentials: "same-origin" });
      if (r.ok) document.getElementById("request-list").outerHTML = await r.text();
    }, 250);
  });
}

function printButtons() {
  document.querySelectorAll("[data-print]").forEach((b) => b.addEventListener("click", () => window.print()));
}

document.addEventListener("DOMContentLoaded", () => { liveFeed(); scanPage(); jsonForms(); uploads(); requestsFloor(); printButtons(); });
