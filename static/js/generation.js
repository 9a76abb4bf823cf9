/* Generation pages, no framework and nothing from a CDN:
   - [data-poll-url]: replace the element with the HTML fragment at that URL every 2 s while
     the job is active; when the fragment says data-active="false", reload the page once so the
     item table and buttons show the final state. After repeated failures it stops and shows
     the element's data-stopped-text (translated in the template).
   - #job-form[data-estimate-url]: refresh the estimate panel when a choice changes.
   - [data-autosubmit]: submit the select's form on change.
   - form[data-confirm]: ask before submitting (cancel). */
(function () {
  "use strict";
  var POLL_MS = 2000;
  var MAX_FAILURES = 5;

  function poll(node) {
    var url = node.getAttribute("data-poll-url");
    var failures = 0;
    function tick() {
      fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (response) {
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.text();
        })
        .then(function (html) {
          failures = 0;
          var holder = document.createElement("div");
          holder.innerHTML = html.trim();
          var fresh = holder.firstElementChild;
          if (!fresh) { return; }
          node.replaceWith(fresh);
          node = fresh;
          if (fresh.getAttribute("data-active") === "false") {
            window.location.reload();
            return;
          }
          window.setTimeout(tick, POLL_MS);
        })
        .catch(function () {
          failures += 1;
          if (failures < MAX_FAILURES) {
            window.setTimeout(tick, POLL_MS * 2);
          } else {
            stopped(node);
          }
        });
    }
    window.setTimeout(tick, POLL_MS);
  }

  function stopped(node) {
    var text = node.getAttribute("data-stopped-text");
    if (!text) { return; }
    var notice = document.createElement("p");
    notice.className = "alert alert-warning";
    notice.setAttribute("role", "status");
    notice.textContent = text;
    node.appendChild(notice);
  }

  function estimate(form) {
    var url = form.getAttribute("data-estimate-url");
    var target = document.getElementById("job-estimate");
    var timer = null;
    function refresh() {
      var data = new FormData(form);
      data.delete("action");
      fetch(url, { method: "POST", body: data, credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) { if (html !== null && target) { target.innerHTML = html; } })
        .catch(function () { /* the "Preview cost" button still works */ });
    }
    function later() {
      if (timer) { window.clearTimeout(timer); }
      timer = window.setTimeout(refresh, 400);
    }
    form.addEventListener("change", later);
    form.addEventListener("input", later);
    if (form.querySelector('input[name="kinds"]:checked')) { refresh(); }
  }

  function start() {
    var i;
    var polled = document.querySelectorAll("[data-poll-url]");
    for (i = 0; i < polled.length; i += 1) { poll(polled[i]); }
    var form = document.getElementById("job-form");
    if (form && form.getAttribute("data-estimate-url")) { estimate(form); }
    var selects = document.querySelectorAll("select[data-autosubmit]");
    for (i = 0; i < selects.length; i += 1) {
      selects[i].addEventListener("change", function (event) { event.target.form.submit(); });
    }
    var confirming = document.querySelectorAll("form[data-confirm]");
    for (i = 0; i < confirming.length; i += 1) {
      confirming[i].addEventListener("submit", function (event) {
        if (!window.confirm(event.currentTarget.getAttribute("data-confirm"))) {
          event.preventDefault();
        }
      });
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
