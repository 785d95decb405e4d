// Drop zones for many files (apps/core/widgets.py, DropZoneFileInput).
//
// Without data-upload-url the zone belongs to a form: dropped and chosen files are listed and
// sent with the form (a bootstrap's seed files). With data-upload-url every file is posted on
// its own as soon as it arrives (field "file", plus "domain" from data-domain-select), two at a
// time, each with its own progress bar and its own result: a link to the new document with a
// live status badge (cms/live.js), or the reason this one file was refused.
(function () {
  "use strict";
  const PARALLEL = 2;

  function csrfToken() {
    const field = document.querySelector("input[name=csrfmiddlewaretoken]");
    if (field) return field.value;
    const cookie = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
    return cookie ? decodeURIComponent(cookie.split("=")[1]) : "";
  }

  function size(bytes) {
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(1) + " KB";
    return (bytes / 1024 / 1024).toFixed(1) + " MB";
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function row(list, file) {
    const item = el("li", "cms-dropzone-item");
    const head = el("div", "cms-dropzone-head");
    const name = el("span", "cms-dropzone-name", file.name);
    const meta = el("span", "cms-dropzone-meta", size(file.size));
    head.append(name, meta);
    item.append(head);
    list.append(item);
    return {item, head, name, meta};
  }

  // --- a form's file input: list what goes with the form ---------------------------------------
  function formZone(zone, input, list) {
    function render() {
      list.replaceChildren();
      Array.from(input.files).forEach((file, index) => {
        const parts = row(list, file);
        const remove = el("button", "cms-dropzone-remove", "Remove");
        remove.type = "button";
        remove.addEventListener("click", () => {
          const kept = new DataTransfer();
          Array.from(input.files).forEach((f, i) => { if (i !== index) kept.items.add(f); });
          input.files = kept.files;
          render();
        });
        parts.head.append(remove);
      });
    }
    input.addEventListener("change", render);
    zone.addEventListener("drop", (event) => {
      const merged = new DataTransfer();
      Array.from(input.files).forEach((f) => merged.items.add(f));
      Array.from(event.dataTransfer.files).forEach((f) => merged.items.add(f));
      input.files = merged.files;
      render();
    });
  }

  // --- an upload zone: every file on its own ------------------------------------------------------
  function uploadZone(zone, input, list) {
    const url = zone.dataset.uploadUrl;
    const domainSelect = zone.dataset.domainSelect ? document.querySelector(zone.dataset.domainSelect) : null;
    const summary = zone.querySelector("[data-dropzone-summary]");
    const queue = [];
    let running = 0;
    const counts = {done: 0, failed: 0};

    function fail(parts, bar, message) {
      parts.item.classList.add("cms-dropzone-failed");
      bar.remove();
      parts.item.append(el("div", "cms-dropzone-error", message));
      counts.failed += 1;
    }

    function summarize(domain) {
      if (!summary) return;
      summary.hidden = false;
      summary.replaceChildren(`${counts.done} uploaded, ${counts.failed} refused. `);
      if (zone.dataset.listUrl && counts.done) {
        const link = el("a", "text-primary-600", "Watch them in the document list →");
        link.href = zone.dataset.listUrl + "?domain__id__exact=" + encodeURIComponent(domain);
        link.id = "dropzone-list-link";
        summary.append(link);
      }
    }

    function send(job) {
      running += 1;
      const {file, domain, parts} = job;
      const bar = el("div", "cms-dropzone-bar");
      const fill = el("div", "cms-dropzone-fill");
      bar.append(fill);
      parts.item.append(bar);
      const body = new FormData();
      body.append("domain", domain);
      body.append("file", file, file.name);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", url);
      xhr.setRequestHeader("X-CSRFToken", csrfToken());
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) fill.style.width = Math.round((100 * event.loaded) / event.total) + "%";
      });
      xhr.addEventListener("load", () => {
        let data = {};
        try { data = JSON.parse(xhr.responseText); } catch (e) { data = {}; }
        if ((xhr.status === 200 || xhr.status === 201) && data.id) {
          fill.style.width = "100%";
          bar.remove();
          parts.item.classList.add("cms-dropzone-done");
          parts.item.dataset.documentId = data.id;
          const link = el("a", "text-primary-600", data.title);
          link.href = data.url;
          parts.name.replaceChildren(link);
          const badge = el("span", "cms-dropzone-status");
          badge.dataset.liveDocument = data.id;
          badge.dataset.liveField = "badge";
          badge.innerHTML = data.badge || "";
          const text = el("span", "cms-dropzone-meta");
          text.dataset.liveDocument = data.id;
          text.dataset.liveField = "text";
          parts.head.append(badge, text);
          if (data.message) parts.item.append(el("div", "cms-dropzone-note", data.message));
          counts.done += 1;
          if (window.heyshLive) window.heyshLive.refresh();
        } else {
          const message = typeof data.error === "string" ? data.error : (data.error && data.error.message);
          fail(parts, bar, message || `Upload failed (HTTP ${xhr.status}).`);
        }
        finish(domain);
      });
      xhr.addEventListener("error", () => { fail(parts, bar, "The connection was lost during the upload."); finish(domain); });
      xhr.send(body);
    }

    function finish(domain) {
      running -= 1;
      next();
      if (!running && !queue.length) summarize(domain);
    }

    function next() {
      while (running < PARALLEL && queue.length) send(queue.shift());
    }

    function add(files) {
      const domain = domainSelect ? domainSelect.value : "";
      Array.from(files).forEach((file) => {
        const parts = row(list, file);
        if (!domain) {
          parts.item.classList.add("cms-dropzone-failed");
          parts.item.append(el("div", "cms-dropzone-error", "Choose a domain first, then drop the file again."));
          return;
        }
        queue.push({file, domain, parts});
      });
      next();
    }

    input.addEventListener("change", () => {
      add(input.files);
      input.value = "";  // the files are on their way: none goes with the form below
    });
    zone.addEventListener("drop", (event) => add(event.dataTransfer.files));
  }

  function setUp(zone) {
    const input = zone.querySelector("input[type=file]");
    const list = zone.querySelector("[data-dropzone-list]");
    if (!input || !list) return;
    ["dragenter", "dragover"].forEach((name) => zone.addEventListener(name, (event) => {
      event.preventDefault();
      zone.classList.add("cms-dropzone-over");
    }));
    ["dragleave", "drop"].forEach((name) => zone.addEventListener(name, (event) => {
      event.preventDefault();
      zone.classList.remove("cms-dropzone-over");
    }));
    if (zone.dataset.uploadUrl) uploadZone(zone, input, list);
    else formZone(zone, input, list);
  }

  function start() { document.querySelectorAll("[data-dropzone]").forEach(setUp); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
