/* Live progress of running catalog syncs: every element with data-sync-progress="<url>" is
   refreshed from that JSON endpoint every 1.5 s; when its run has finished the page reloads to
   show the result. No framework, nothing from a CDN. */
(function () {
  "use strict";
  var INTERVAL_MS = 1500;
  var MAX_FAILURES = 5;

  function setField(root, name, value) {
    var node = root.querySelector('[data-field="' + name + '"]');
    if (!node) { return; }
    if (node.tagName === "PROGRESS") {
      node.value = value;
      node.textContent = value + "%";
    } else {
      node.textContent = value;
    }
  }

  function watch(root) {
    var url = root.getAttribute("data-sync-progress");
    var failures = 0;

    function poll() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.json();
        })
        .then(function (run) {
          failures = 0;
          if (!run.active) {
            window.location.reload();
            return;
          }
          setField(root, "percent", run.percent);
          setField(root, "summary", run.summary);
          setField(root, "status_label", run.status_label);
          window.setTimeout(poll, INTERVAL_MS);
        })
        .catch(function () {
          failures += 1;
          if (failures < MAX_FAILURES) { window.setTimeout(poll, INTERVAL_MS * 2); }
        });
    }

    window.setTimeout(poll, INTERVAL_MS);
  }

  function start() {
    var nodes = document.querySelectorAll("[data-sync-progress]");
    for (var i = 0; i < nodes.length; i += 1) { watch(nodes[i]); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
