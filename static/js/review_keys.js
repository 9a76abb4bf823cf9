/* Keyboard shortcuts of the review pages. No framework, nothing from a CDN.
   Item page: a = approve, e = edit, r = reject, g = send back for regeneration (each opens its
   form or presses its button: elements with data-key), j / k = next / previous item
   (links with data-key), Esc = close the open form.
   Queue page: j / k move the selection between rows, Enter opens the selected item.
   Keys are ignored while typing in a field or with a modifier held. */
(function () {
  "use strict";

  function typing(target) {
    if (!target) { return false; }
    var tag = target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
  }

  function openPanel(id) {
    var panels = document.querySelectorAll(".decisions .panel");
    for (var i = 0; i < panels.length; i++) {
      panels[i].hidden = panels[i].id !== id;
    }
    var panel = document.getElementById(id);
    if (panel) {
      var first = panel.querySelector("textarea, input[type=text]");
      if (first) { first.focus(); }
    }
  }

  function closePanels() {
    var panels = document.querySelectorAll(".decisions .panel");
    for (var i = 0; i < panels.length; i++) { panels[i].hidden = true; }
  }

  // Toggle buttons open their panel.
  var toggles = document.querySelectorAll("[data-toggle]");
  for (var t = 0; t < toggles.length; t++) {
    toggles[t].addEventListener("click", function (event) {
      openPanel(event.currentTarget.getAttribute("data-toggle"));
    });
  }

  // "Select all" on the queue.
  var all = document.querySelector("[data-select-all]");
  if (all) {
    all.addEventListener("change", function () {
      var boxes = document.querySelectorAll("input[name=ids]");
      for (var b = 0; b < boxes.length; b++) { boxes[b].checked = all.checked; }
    });
  }

  // Queue rows: j / k selection.
  var rows = document.querySelectorAll("tr[data-review-id] a[data-item-link]");
  var current = -1;
  function select(index) {
    if (!rows.length) { return; }
    current = Math.max(0, Math.min(rows.length - 1, index));
    var marked = document.querySelectorAll("tr.selected");
    for (var m = 0; m < marked.length; m++) { marked[m].classList.remove("selected"); }
    var row = rows[current].closest("tr");
    row.classList.add("selected");
    rows[current].focus();
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (event.key === "Escape") { closePanels(); return; }
    if (typing(event.target)) { return; }
    var key = event.key;
    if (rows.length && (key === "j" || key === "k")) {
      event.preventDefault();
      select(current + (key === "j" ? 1 : -1));
      return;
    }
    var target = document.querySelector('[data-key="' + key + '"]');
    if (!target) { return; }
    event.preventDefault();
    if (target.tagName === "A") {
      window.location.href = target.href;
    } else if (target.getAttribute("data-toggle")) {
      openPanel(target.getAttribute("data-toggle"));
    } else {
      target.click();
    }
  });
})();
