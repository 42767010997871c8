// breachkit incident board: live countdowns on the server's clock, and live updates of the page.
// Without this script every page still works: it shows the state as of when it was rendered.
(function () {
  "use strict";
  var body = document.body;
  // The server's time minus the browser's: countdowns run on the server's clock (a browser clock that is wrong by
  // minutes must not move a legal deadline). Refined on every poll from the round trip's midpoint.
  var offset = Date.parse(body.dataset.serverNow || "") - Date.now();
  if (isNaN(offset)) { offset = 0; }
  var scope = body.dataset.scope || "";
  var marker = body.dataset.marker || "";
  var pollMs = Math.max(500, parseFloat(body.dataset.poll || "3") * 1000);
  var dueSoonMs = parseFloat(body.dataset.dueSoonHours || "6") * 3600 * 1000;  // incidents.due_soon_hours
  if (isNaN(dueSoonMs)) { dueSoonMs = 6 * 3600 * 1000; }
  var lastOk = Date.now();
  var pending = false;
  var dirty = false;

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function words(ms) {
    var s = Math.floor(Math.abs(ms) / 1000);
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60), sec = s % 60;
    // non-breaking spaces inside the duration: a narrow screen breaks the line after "by", not inside the number
    if (d >= 4) { return d + "\u00a0d\u00a0" + h + "\u00a0h"; }
    var hours = d * 24 + h;
    if (hours) { return hours + "\u00a0h\u00a0" + pad(m) + "\u00a0min\u00a0" + pad(sec) + "\u00a0s"; }
    return m + "\u00a0min\u00a0" + pad(sec) + "\u00a0s";
  }

  function serverNow() { return Date.now() + offset; }

  // The server's time in the board's zone (workspace.timezone), not the browser's.
  var clockFormat = null;
  try {
    clockFormat = new Intl.DateTimeFormat("en-GB", { timeZone: body.dataset.zone || "UTC", weekday: "short",
      hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
  } catch (e) { clockFormat = null; }
  function clockText(ms) {
    return clockFormat ? clockFormat.format(new Date(ms)) : new Date(ms).toISOString().slice(11, 19) + " UTC";
  }

  function setState(el, state) {
    var holder = el.closest(".card, .clock-row");
    if (!holder || holder.classList.contains("state-" + state)) { return; }
    ["running", "due-soon", "overdue"].forEach(function (s) { holder.classList.remove("state-" + s); });
    holder.classList.add("state-" + state);
    var label = holder.querySelector("[data-state-word]");
    if (label) { label.textContent = state === "overdue" ? "OVERDUE" : state === "due-soon" ? "due soon" : "running"; }
  }

  function tick() {
    var now = serverNow();
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var due = Date.parse(el.dataset.due);
      if (isNaN(due)) { return; }
      var left = due - now;
      el.textContent = left >= 0 ? words(left) + " left" : "OVERDUE by " + words(left);
      setState(el, left < 0 ? "overdue" : left <= dueSoonMs ? "due-soon" : "running");
    });
    var clock = document.getElementById("server-clock");
    if (clock) { clock.textContent = clockText(now) + " " + (body.dataset.zoneAbbr || ""); }
    if (scope && Date.now() - lastOk > Math.max(15000, pollMs * 4)) {
      status("Connection to the board lost since " + clockText(lastOk + offset) +
             ": what you see may be out of date. Retrying…", true);
    }
  }

  function status(text, bad, action) {
    var box = document.getElementById("live-status");
    if (!box) { return; }
    if (!text) { box.hidden = true; box.textContent = ""; return; }
    box.hidden = false;
    box.className = "live-status" + (bad ? " bad" : "");
    box.textContent = text;
    if (action) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = action.label;
      button.addEventListener("click", action.run);
      box.appendChild(button);
    }
  }

  function editing() {
    var active = document.activeElement;
    return dirty || (active && active.closest && active.closest("main form") &&
                     /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName));
  }

  function swap() {
    return fetch(location.pathname + location.search, {
      headers: { "X-Board-Fragment": "1" }, credentials: "same-origin", cache: "no-store"
    }).then(function (response) {
      if (response.status === 401 || response.redirected) { throw new Error("signed out"); }
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      var next = response.headers.get("X-Board-Marker") || marker;
      return response.text().then(function (html) {
        var open = Array.prototype.map.call(document.querySelectorAll("main details[open]"), function (d) {
          var item = d.closest("[id]"); return item ? item.id : "";
        });
        document.getElementById("main").innerHTML = html;
        open.forEach(function (id) {
          var d = id && document.querySelector("#" + CSS.escape(id) + " details");
          if (d) { d.open = true; }
        });
        marker = next;
        body.dataset.marker = next;
        dirty = false;
        status("");
        tick();
      });
    });
  }

  function poll() {
    if (!scope || pending) { return; }
    pending = true;
    var sent = Date.now();
    fetch("/live?scope=" + encodeURIComponent(scope), {
      headers: { "Accept": "application/json" }, credentials: "same-origin", cache: "no-store"
    }).then(function (response) {
      if (response.status === 401 || response.status === 403) { throw new Error("signed out"); }
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.json();
    }).then(function (data) {
      var received = Date.now();
      offset = Date.parse(data.now) - (sent + received) / 2;
      lastOk = received;
      if (data.marker === marker) { if (!editing()) { status(""); } return null; }
      if (editing()) {
        status("This page changed while you were typing.", false,
               { label: "Show the changes", run: function () { dirty = false; swap(); } });
        return null;
      }
      return swap();
    }).catch(function (error) {
      if (String(error && error.message) === "signed out") {
        scope = "";
        status("You are signed out: what you see is no longer updated.", true,
               { label: "Sign in", run: function () { location.reload(); } });
      }
    }).then(function () { pending = false; });
  }

  document.addEventListener("input", function (event) {
    if (event.target && event.target.closest && event.target.closest("main form")) { dirty = true; }
  });
  document.addEventListener("submit", function () { dirty = false; });

  tick();
  setInterval(tick, 1000);
  if (scope) { setInterval(poll, pollMs); }
})();
