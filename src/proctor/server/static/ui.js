// Proctor web UI: the two things pages need a script for. Everything else is plain HTML.
// 1. A waterfall row opens its event's payload, fetched when first opened.
// 2. A run that is still going is followed: the page reloads when its log grows.
"use strict";

(function () {
  function show(box, text) {
    box.textContent = text; // never innerHTML: payloads are data, not markup
  }

  // The panel under a row is made when the row is first opened (a long run's page then
  // carries one element per event, not three).
  function panelOf(button) {
    var id = "ev-" + button.dataset.seq;
    var panel = document.getElementById(id);
    if (panel) return panel;
    panel = document.createElement("div");
    panel.className = "tl-payload";
    panel.id = id;
    var box = document.createElement("pre");
    box.setAttribute("aria-live", "polite");
    show(box, "Loading…");
    panel.appendChild(box);
    button.insertAdjacentElement("afterend", panel);
    button.setAttribute("aria-controls", id);
    return panel;
  }

  function load(button, panel) {
    var box = panel.querySelector("pre");
    var list = button.closest("[data-events]");
    if (!box || !list) return;
    panel.dataset.loaded = "1";
    fetch(list.dataset.events + encodeURIComponent(button.dataset.seq), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) throw new Error(body.error || "status " + response.status);
          show(box, JSON.stringify(body, null, 2));
        });
      })
      .catch(function (error) {
        delete panel.dataset.loaded; // let a second click retry
        show(box, "Could not load this event: " + error.message);
      });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button.tl-row");
    if (!button) return;
    var panel = panelOf(button);
    var open = button.getAttribute("aria-expanded") !== "true";
    button.setAttribute("aria-expanded", String(open));
    panel.hidden = !open;
    if (open && !panel.dataset.loaded) load(button, panel);
  });

  var live = document.querySelector("[data-live]");
  if (live) {
    var every = live.dataset.status === "running" ? 1000 : 2000;
    var poll = function () {
      fetch(live.dataset.live, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          return response.ok ? response.json() : null;
        })
        .then(function (now) {
          if (now && (String(now.last_seq) !== live.dataset.lastSeq || now.status !== live.dataset.status)) {
            window.location.reload();
            return;
          }
          window.setTimeout(poll, every);
        })
        .catch(function () {
          window.setTimeout(poll, every * 3); // the server may be restarting
        });
    };
    window.setTimeout(poll, every);
  }
})();
