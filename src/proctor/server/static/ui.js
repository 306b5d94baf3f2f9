// Proctor web UI: the two things pages need a script for. Everything else is plain HTML.
// 1. A waterfall row opens its event's payload, fetched when first opened.
// 2. A run that is still going is followed: the page reloads when its log grows.
// 3. A model turn opens the messages it was sent (the run's turns are fetched once).
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

  // Model turns: every turn's context comes in one answer, each message once; a turn
  // lists its messages by index. Built with textContent only, like the payloads.
  var turnsOfRun = null;
  function turnsOf(list) {
    if (!turnsOfRun) {
      turnsOfRun = fetch(list.dataset.turns, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      }).then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) throw new Error((body.error && body.error.message) || "status " + response.status);
          return body;
        });
      });
      turnsOfRun.catch(function () {
        turnsOfRun = null; // opening a turn again retries
      });
    }
    return turnsOfRun;
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  var KINDS = {
    instructions: "system · instructions",
    input: "user · input",
    summary: "user · summary of earlier turns",
    note: "user · note",
    assistant: "assistant",
    result: "tool result",
    shortened: "tool result · shortened",
  };

  function whole(n) {
    return Number(n).toLocaleString("en-US");
  }

  // Indented only where that loses nothing: "31800.0" stays as the model read it.
  function pretty(text) {
    if (!/^[\[{]/.test(text)) return text;
    try {
      var value = JSON.parse(text);
      return JSON.stringify(value) === text ? JSON.stringify(value, null, 2) : text;
    } catch (error) {
      return text;
    }
  }

  function message(m, label) {
    var item = el("li", "msg m-" + m.role);
    var head = el("div", "msg-head");
    head.appendChild(el("span", "msg-role", label || KINDS[m.kind] || m.role));
    if (m.name) head.appendChild(el("code", "", m.name));
    head.appendChild(el("span", "msg-figs", "≈ " + whole(m.tokens) + " tokens · event " + m.seq));
    item.appendChild(head);
    if (m.purged) {
      item.appendChild(el("p", "purged", "Purged under retention; its hash remains in the log."));
      return item;
    }
    var json = m.role === "tool" || m.kind === "input"; // both are JSON as sent
    if (m.text) item.appendChild(el("pre", "msg-text", json ? pretty(m.text) : m.text));
    m.tool_calls.forEach(function (call) {
      item.appendChild(el("pre", "msg-call", "→ " + call.name + " " + JSON.stringify(call.arguments, null, 2)));
    });
    return item;
  }

  function showTurn(body, data, number) {
    var turn = data.turns.filter(function (t) {
      return t.turn === number;
    })[0];
    body.textContent = "";
    if (!turn) {
      body.appendChild(el("p", "muted", "This turn is not in the log yet; reload the page."));
      return;
    }
    turn.compactions.forEach(function (c) {
      var what = [];
      if (c.through_turn) what.push((c.through_turn === 1 ? "turn 1" : "turns 1–" + c.through_turn) + " became a summary");
      if (c.results_replaced) what.push(c.results_replaced + (c.results_replaced === 1 ? " result" : " results") + " shortened");
      body.appendChild(
        el(
          "p",
          "compacted",
          "Compacted before this turn (event " + c.seq + "): " + what.join(", ") + "; ≈ " +
            whole(c.tokens_before) + " → " + whole(c.tokens_after) + " tokens."
        )
      );
    });
    if (turn.as_sent === true) {
      body.appendChild(
        el("p", "ok", "✓ Exactly the messages the model was sent: their digest matches the one recorded with this turn (event " + turn.seq + ").")
      );
    } else if (turn.as_sent === false) {
      body.appendChild(
        el("p", "muted", "The messages as the log keeps them: redaction replaced values in the record (or retention purged a payload), so they differ from what the model was sent and from the digest recorded with this turn.")
      );
    }
    body.appendChild(
      el("p", "label", "Sent: " + turn.context.length + " messages, ≈ " + whole(turn.context_tokens) + " tokens (tool specs not counted)")
    );
    var sent = el("ol", "ctx");
    turn.context.forEach(function (i) {
      sent.appendChild(message(data.messages[i]));
    });
    body.appendChild(sent);
    var figures = turn.model + " · " + whole(turn.input_tokens) + " in";
    if (turn.cached_input_tokens) figures += " (" + whole(turn.cached_input_tokens) + " cached)";
    figures += " / " + whole(turn.output_tokens) + " out · " + turn.latency_ms.toFixed(1) + " ms";
    if (turn.cache_hit) figures += " · from the response cache";
    body.appendChild(el("p", "label", "Answered (" + figures + ", " + turn.finish_reason + ")"));
    var answer = el("ol", "ctx");
    answer.appendChild(message(data.messages[turn.answer], "assistant · reply"));
    body.appendChild(answer);
  }

  // toggle does not bubble: listen in the capture phase.
  document.addEventListener(
    "toggle",
    function (event) {
      var details = event.target;
      if (!details.matches || !details.matches("details.turn") || !details.open) return;
      if (details.dataset.loaded) return;
      var list = details.closest("[data-turns]");
      var body = details.querySelector(".turn-body");
      if (!list || !body) return;
      details.dataset.loaded = "1";
      turnsOf(list)
        .then(function (data) {
          showTurn(body, data, Number(details.dataset.turn));
        })
        .catch(function (error) {
          delete details.dataset.loaded;
          body.textContent = "";
          body.appendChild(el("p", "bad", "Could not load this turn: " + error.message));
        });
    },
    true
  );

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
