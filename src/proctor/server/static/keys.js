// Proctor web UI: keyboard keys for lists (issue 19). Plain script, no framework.
//   j / k    move the highlighted row of the page's list ([data-keynav], rows [data-row])
//   Enter    open the highlighted row (its [data-open] link)
//   /        focus the search field ([data-search]); Escape leaves it
// Keys typed into a field, or with Ctrl, Alt or Meta held, are left alone.
"use strict";

(function () {
  var list = document.querySelector("[data-keynav]");
  var search = document.querySelector("[data-search]");
  if (!list && !search) return;
  var current = -1;

  function typing(target) {
    if (!target || !target.tagName) return false;
    var tag = target.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }

  function rows() {
    return list ? list.querySelectorAll("[data-row]") : [];
  }

  function highlight(index) {
    var all = rows();
    if (!all.length) return;
    index = Math.max(0, Math.min(all.length - 1, index));
    if (current >= 0 && all[current]) {
      all[current].classList.remove("kn-current");
      all[current].removeAttribute("aria-current");
    }
    current = index;
    var row = all[current];
    row.classList.add("kn-current");
    row.setAttribute("aria-current", "true");
    // The row takes focus (so Enter and screen readers follow it), not a tab stop.
    row.setAttribute("tabindex", "-1");
    row.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
  }

  // A row focused or clicked by other means becomes the highlighted one.
  if (list) {
    list.addEventListener("focusin", function (event) {
      var row = event.target.closest("[data-row]");
      if (!row) return;
      var index = Array.prototype.indexOf.call(rows(), row);
      if (index >= 0 && index !== current) {
        var before = rows()[current];
        if (before) {
          before.classList.remove("kn-current");
          before.removeAttribute("aria-current");
        }
        current = index;
        row.classList.add("kn-current");
        row.setAttribute("aria-current", "true");
      }
    });
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.altKey || event.metaKey) return;
    var target = event.target;
    if (typing(target)) {
      if (event.key === "Escape" && target === search) search.blur();
      return;
    }
    if (event.key === "/" && search) {
      event.preventDefault();
      search.focus();
      search.select();
    } else if ((event.key === "j" || event.key === "k") && rows().length) {
      event.preventDefault();
      highlight(current < 0 ? 0 : current + (event.key === "j" ? 1 : -1));
    } else if (event.key === "Enter" && current >= 0) {
      var row = rows()[current];
      // Enter on a link or button inside the row does what it does already.
      if (!row || (target !== row && target !== document.body)) return;
      var link = row.querySelector("a[data-open]") || row.querySelector("a[href]");
      if (link) {
        event.preventDefault();
        link.click();
      }
    }
  });
})();
