// Live progress on the admin pages, without a reload.
//
// Markup: an element with data-live-document="<id>" (or data-live-bootstrap, data-live-dashboard)
// and data-live-field="<field>" shows that field of that object. The script asks the progress
// endpoint (this script tag's data-endpoint) for every object on the page, puts each field in
// place (badge and timeline as the server's HTML, the rest as text), and asks again every
// 2 seconds while the endpoint says something is still running (asking only about what was
// still running, and what appeared since); it stops when nothing is.
// window.heyshLive.refresh() starts it again (the upload drop zone calls it for new documents).
(function () {
  "use strict";
  const ENDPOINT = document.currentScript && document.currentScript.dataset.endpoint;
  const INTERVAL = 2000;
  const HTML_FIELDS = new Set(["badge", "timeline"]);
  const KINDS = [["document", "documents"], ["bootstrap", "bootstraps"], ["dashboard", "dashboard"]];
  let timer = null;
  let inFlight = false;
  let failures = 0;
  const wasActive = new Set();
  const settledKeys = new Set();  // objects the endpoint said were finished: not asked about again

  function idsOf(kind) {
    const ids = new Set();
    document.querySelectorAll("[data-live-" + kind + "]").forEach((el) => {
      const id = el.getAttribute("data-live-" + kind);
      if (!settledKeys.has(kind + ":" + id)) ids.add(id);
    });
    return Array.from(ids);
  }

  function put(kind, id, state) {
    document.querySelectorAll("[data-live-" + kind + "='" + id + "']").forEach((el) => {
      const field = el.dataset.liveField;
      if (!field || !(field in state)) return;
      const value = state[field] === null || state[field] === undefined ? "" : String(state[field]);
      if (HTML_FIELDS.has(field)) {
        if (el.innerHTML !== value) el.innerHTML = value;
      } else if (el.textContent !== value) {
        el.textContent = value;
      }
    });
    const key = kind + ":" + id;
    if (state.active) {
      wasActive.add(key);
    } else {
      if (kind !== "dashboard") settledKeys.add(key);
      if (wasActive.has(key)) {
        wasActive.delete(key);
        settled();
      }
    }
  }

  // A change page shows more once the run is over (chunks, generated content, review buttons):
  // offer a reload rather than reloading under an editor's hands.
  function settled() {
    const main = document.getElementById("content-main");
    if (!main || !document.body.classList.contains("change-form") || document.getElementById("live-settled")) return;
    const note = document.createElement("div");
    note.id = "live-settled";
    note.className = "cms-live-notice";
    note.append("Processing has finished. ");
    const link = document.createElement("a");
    link.href = window.location.href;
    link.textContent = "Reload to see everything it produced";
    note.append(link);
    main.prepend(note);
  }

  function query() {
    const params = new URLSearchParams();
    const documents = idsOf("document");
    if (documents.length) params.set("documents", documents.join(","));
    if (document.querySelector("[data-live-document][data-live-field='timeline']")) params.set("timeline", "1");
    const bootstraps = idsOf("bootstrap");
    if (bootstraps.length) params.set("bootstraps", bootstraps.join(","));
    if (idsOf("dashboard").length) params.set("dashboard", "1");
    return params;
  }

  function schedule(delay) {
    clearTimeout(timer);
    timer = setTimeout(poll, delay);
  }

  function poll() {
    timer = null;
    const params = query();
    if (!ENDPOINT || !params.toString() || inFlight) return;
    inFlight = true;
    fetch(ENDPOINT + "?" + params.toString(), {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then((response) => {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then((data) => {
        failures = 0;
        KINDS.forEach(([kind, key]) => {
          const states = data[key];
          if (!states) return;
          if (kind === "dashboard") put(kind, "1", states);
          else Object.entries(states).forEach(([id, state]) => put(kind, id, state));
        });
        document.documentElement.dataset.liveActive = data.active ? "1" : "0";
        if (data.active) schedule(INTERVAL);
      })
      .catch(() => {
        // A server restart or a dropped connection: try again a few times, more slowly, then stop.
        failures += 1;
        if (failures <= 5) schedule(INTERVAL * 2 * failures);
      })
      .finally(() => { inFlight = false; });
  }

  window.heyshLive = {refresh: () => schedule(0)};
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", poll);
  else poll();
})();
