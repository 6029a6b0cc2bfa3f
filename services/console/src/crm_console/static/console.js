// The console's only script of its own: the CSRF token on every htmx write, charts drawn
// from the JSON configuration the server put on each <canvas data-chart>, and copying a link.
(function () {
  "use strict";

  // The page has script: what only script can do (a Copy button) shows (docs/console.md).
  document.documentElement.classList.remove("no-script");

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = csrfToken();
  });

  // A form is not sent again while its answer is awaited: htmx queues a second submit of a
  // form whose first is in flight and sends it once the first is answered, so a double click
  // on "Create" made two records. Only a submit marks the form, so a count or preview the
  // form asks for as it is typed in never holds up its Save.
  var sending = new WeakSet();
  document.addEventListener("submit", function (event) {
    if (sending.has(event.target)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);
  document.addEventListener("htmx:beforeRequest", function (event) {
    var config = event.detail.requestConfig;
    var trigger = config && config.triggeringEvent;
    if (trigger && trigger.type === "submit" && event.detail.elt.tagName === "FORM") {
      sending.add(event.detail.elt);
    }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    sending.delete(event.detail.elt);
  });

  // "Saved." is said once: a page opened with ?saved=... (after a save) drops it from its
  // address, so a reload or a bookmark shows the page, not the save again.
  (function forgetSaved() {
    var url = new URL(window.location.href);
    if (url.searchParams.has("saved") && window.history.replaceState) {
      url.searchParams.delete("saved");
      window.history.replaceState(window.history.state, "", url.pathname + url.search + url.hash);
    }
  })();

  function drawCharts(root) {
    if (typeof Chart === "undefined") {
      return;
    }
    root.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (canvas.dataset.drawn) {
        return;
      }
      canvas.dataset.drawn = "1";
      new Chart(canvas, JSON.parse(canvas.dataset.chart));
    });
  }

  // Chart.js loads async: the charts already parsed are drawn when it arrives, the rest (or
  // all, when it arrived first) once the page is parsed.
  document.addEventListener(
    "load",
    function (event) {
      if (event.target.hasAttribute && event.target.hasAttribute("data-chart-library")) {
        drawCharts(document);
      }
    },
    true
  );
  document.addEventListener("DOMContentLoaded", function () {
    drawCharts(document);
    absoluteLinks(document);
    questionParts(document);
    settingSwitches(document);
  });
  // htmx wires the page at DOMContentLoaded and takes each field's value then as its last one,
  // so a search typed before that (a page still arriving on a slow line) or restored by the
  // browser on "Back" would send nothing until typed again: ask for it once htmx is ready.
  document.addEventListener("htmx:load", function (event) {
    if (event.target !== document.body) {
      return;
    }
    document.querySelectorAll("input[type=search]").forEach(function (field) {
      if (field.value !== field.defaultValue) {
        htmx.trigger(field, "typed-early");
      }
    });
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    drawCharts(event.target);
    absoluteLinks(event.target);
    questionParts(event.target);
    settingSwitches(event.target);
  });
  // A registration question's options matter to a choice, its purpose to a consent box: the
  // other kinds hide them (without script every part shows, and the server ignores the rest).
  function questionParts(root) {
    root.querySelectorAll("[data-question-kind]").forEach(function (select) {
      var row = select.closest(".question-row");
      if (row) {
        row.querySelectorAll("[data-for-kind]").forEach(function (part) {
          part.hidden = part.getAttribute("data-for-kind") !== select.value;
        });
      }
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("[data-question-kind]")) {
      questionParts(event.target.closest(".question-row"));
    }
  });
  // A box that switches a setting on (quiet hours, the frequency cap) enables the fields of
  // that setting (data-enables="<id>"): unticked, they are disabled, so nothing is typed there
  // to be dropped on saving, and "<id>-off" says the setting is off. The server renders the
  // fields enabled (a page without script could not be typed in after ticking the box; the
  // server ignores them while it is unticked), and this disables them as the page loads.
  function settingSwitches(root) {
    if (!root.querySelectorAll) {
      return;
    }
    root.querySelectorAll("input[type=checkbox][data-enables]").forEach(switchSetting);
  }
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (box.matches && box.matches("input[type=checkbox][data-enables]")) {
      switchSetting(box);
    }
  });
  function switchSetting(box) {
    var name = box.getAttribute("data-enables");
    var part = document.getElementById(name);
    if (part) {
      part.querySelectorAll("input, select, textarea").forEach(function (control) {
        control.disabled = !box.checked;
      });
    }
    var off = document.getElementById(name + "-off");
    if (off) {
      off.hidden = box.checked;
    }
  }
  // "Select all on this page" (a box with data-select-all="<name>") ticks or unticks every
  // box of that name in its table; ticking them one by one keeps it in step.
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!(box.matches && box.matches("input[type=checkbox]"))) {
      return;
    }
    var table = box.closest("table");
    if (!table) {
      return;
    }
    var all = table.querySelector("input[type=checkbox][data-select-all]");
    if (!all) {
      return;
    }
    var boxes = table.querySelectorAll(
      'input[type=checkbox][name="' + all.getAttribute("data-select-all") + '"]'
    );
    if (box === all) {
      boxes.forEach(function (one) {
        one.checked = all.checked;
      });
    } else {
      all.checked = Array.prototype.every.call(boxes, function (one) {
        return one.checked;
      });
    }
  });
  // A link to share (an event's public registration page) is rendered as a path: the browser
  // knows the address people reach the console at, the console does not.
  function absoluteLinks(root) {
    root.querySelectorAll("input[data-absolute-link]").forEach(function (input) {
      if (input.value.charAt(0) === "/") {
        input.value = window.location.origin + input.value;
      }
    });
    // Code to paste into another site (an event's embed snippet): its `src="/..."` likewise.
    root.querySelectorAll("textarea[data-absolute-code]").forEach(function (code) {
      code.value = code.value.replace(/src="\//g, 'src="' + window.location.origin + "/");
    });
  }

  // A "Copy" button (data-copy="<input id>") copies that input's value and says so.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-copy]");
    if (!button) {
      return;
    }
    var name = button.getAttribute("data-copy");
    var input = document.getElementById(name);
    var status = document.querySelector('[data-copy-status="' + name + '"]');
    if (!input) {
      return;
    }
    function said(text) {
      if (status) {
        status.textContent = text;
      }
    }
    function fallback() {
      input.select();
      said(document.execCommand("copy") ? "Copied." : "Select the link and copy it.");
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(function () {
        said("Copied.");
      }, fallback);
    } else {
      fallback();
    }
  });

  // Home's date range: editing a date means "from - to", so the period select follows it
  // (an <input data-custom-range="<select id>">).
  document.addEventListener("input", function (event) {
    var target = event.target;
    var selectId = target && target.dataset ? target.dataset.customRange : null;
    var select = selectId ? document.getElementById(selectId) : null;
    if (select) {
      select.value = "custom";
    }
  });
  // A response htmx swapped into the page as an error (4xx/5xx): move focus to its message
  // so keyboard and screen-reader users learn of it.
  document.addEventListener("htmx:afterSettle", function (event) {
    var alert = event.target.querySelector && event.target.querySelector('[role="alert"]');
    if (alert) {
      alert.setAttribute("tabindex", "-1");
      alert.focus();
      return;
    }
    // A profile panel's own form or button (not its load) replaced the panel, and with it the
    // control that had the focus: focus goes to what was done (its role="status" line, when
    // it says something) or else the panel's heading, rather than falling to <body>.
    var config = event.detail && event.detail.requestConfig;
    if (config && config.verb !== "get" && event.target.querySelector) {
      // What an action's answer marks as its outcome (a new key's secret, a notification
      // marked read) takes the focus that went with the replaced button.
      var outcome = event.target.matches("[data-focus-after-swap]")
        ? event.target
        : event.target.querySelector("[data-focus-after-swap]");
      if (outcome) {
        outcome.setAttribute("tabindex", "-1");
        outcome.focus();
        return;
      }
    }
    var panel = event.target.closest && event.target.closest("[data-action-panel]");
    if (!panel || !config || config.verb === "get") {
      return;
    }
    var said = panel.querySelector('[role="status"]');
    var place = said && said.textContent.trim() ? said : panel.querySelector("h2, h3");
    if (place) {
      place.setAttribute("tabindex", "-1");
      place.focus();
    }
  });
  // A panel asked again on its own (a poll: a sending broadcast's progress every 2 s) while it
  // holds the focus gives it back to the same element of the new content (by id), else to the
  // panel's heading, so a keyboard user is not sent back to <body> every few seconds.
  var refocus = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var config = event.detail && event.detail.requestConfig;
    var target = event.detail && event.detail.target;
    var active = document.activeElement;
    refocus = null;
    if (
      config &&
      config.verb === "get" &&
      target &&
      active &&
      active !== document.body &&
      target.contains(active)
    ) {
      refocus = { id: active.id || "", panel: target.id || "" };
    }
  });
  document.addEventListener("htmx:afterSettle", function () {
    if (!refocus || (document.activeElement && document.activeElement !== document.body)) {
      refocus = null;
      return;
    }
    var panel = refocus.panel ? document.getElementById(refocus.panel) : null;
    var place = refocus.id ? document.getElementById(refocus.id) : null;
    place = place || (panel && panel.querySelector("h2, h3"));
    refocus = null;
    if (place) {
      if (!place.hasAttribute("tabindex") && !/^(A|BUTTON|INPUT|SELECT|TEXTAREA)$/.test(place.tagName)) {
        place.setAttribute("tabindex", "-1");
      }
      place.focus();
    }
  });
  // A part loaded after the page (`hx-trigger="load"`, the whole element swapped: a profile's
  // panel, a pool's health) whose own route failed (the console's 500, the gateway's 502 or
  // 504): htmx would put the alert in place of the whole part, heading included. The part
  // stays, the alert goes under its heading with "Try again" (its route asked once more; the
  // link is the part's page without script). No answer at all is said there too. Nothing
  // takes the focus: the part was not asked for by the person (its alert is announced).
  function isLoadedPart(element) {
    return Boolean(
      element &&
        element.getAttribute &&
        element.getAttribute("hx-trigger") === "load" &&
        element.getAttribute("hx-swap") === "outerHTML"
    );
  }
  function failureAlert(xhr) {
    var said = new DOMParser().parseFromString((xhr && xhr.responseText) || "", "text/html");
    var alert = said.querySelector('[role="alert"]');
    if (alert) {
      return document.importNode(alert, true);
    }
    alert = document.createElement("div");
    alert.className = "problem";
    alert.setAttribute("role", "alert");
    alert.textContent =
      xhr && xhr.status
        ? "Not available: the console answered " + xhr.status + "."
        : "Not available: no answer (is the connection down?).";
    return alert;
  }
  function partFailed(part, alert) {
    part.removeAttribute("aria-busy");
    part.querySelectorAll(":scope > p.muted, :scope > [data-part-failure]").forEach(function (old) {
      old.remove();
    });
    var failure = document.createElement("div");
    failure.setAttribute("data-part-failure", "");
    failure.appendChild(alert);
    var again = document.createElement("p");
    var link = document.createElement("a");
    link.href = part.getAttribute("hx-get");
    link.textContent = "Try again";
    link.setAttribute("data-part-retry", "");
    again.appendChild(link);
    failure.appendChild(again);
    var heading = part.querySelector(":scope > h1, :scope > h2, :scope > h3");
    if (heading) {
      heading.after(failure);
    } else {
      part.prepend(failure);
    }
  }
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.isError && isLoadedPart(event.detail.elt)) {
      event.detail.shouldSwap = false;
      partFailed(event.detail.elt, failureAlert(event.detail.xhr));
    }
  });
  // A form or button whose request never reached the console (no network) says so where it
  // was used, instead of doing nothing; the next try of it clears the note. A panel that asks
  // again by itself (polling) just tries at its next turn.
  function unsentNote(element) {
    var anchor = element.closest("form") || element;
    var note = anchor.previousElementSibling;
    if (!note || !note.hasAttribute("data-not-sent")) {
      note = document.createElement("div");
      note.className = "problem";
      note.setAttribute("role", "alert");
      note.setAttribute("data-not-sent", "");
      note.setAttribute("data-testid", "not-sent");
      anchor.before(note);
    }
    note.textContent =
      "Not sent: the console could not be reached (is the network down?). Nothing was " +
      "saved; try again once it is back.";
  }
  document.addEventListener("htmx:beforeRequest", function (event) {
    var anchor = event.detail.elt.closest("form") || event.detail.elt;
    var note = anchor.previousElementSibling;
    if (note && note.hasAttribute("data-not-sent")) {
      note.remove();
    }
  });
  ["htmx:sendError", "htmx:timeout"].forEach(function (name) {
    document.addEventListener(name, function (event) {
      var element = event.detail.elt;
      if (isLoadedPart(element)) {
        partFailed(element, failureAlert(null));
      } else if (!/every /.test(element.getAttribute("hx-trigger") || "")) {
        unsentNote(element);
      }
    });
  });
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("[data-part-retry]");
    var part = link && link.closest('[hx-trigger="load"]');
    if (!part || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) {
      return; // a new tab opens the part's own page
    }
    event.preventDefault();
    part.setAttribute("aria-busy", "true");
    htmx.ajax("GET", part.getAttribute("hx-get"), { source: part, target: part, swap: "outerHTML" });
  });
  // A page reloaded after an action (recording consent) focuses what it says was done.
  document.addEventListener("DOMContentLoaded", function () {
    var said = document.querySelector("[data-focus-on-load]");
    if (said) {
      said.setAttribute("tabindex", "-1");
      said.focus();
    }
  });

  // Campaigns: the template editor's merge-field picker inserts `{{ field }}` where the cursor
  // last was in the subject or a body (htmx cannot edit a field's text), and tells htmx the
  // field changed so the live preview follows. "Last was" means where the person typed,
  // clicked or moved the caret: a field Tab only passes through on the way from the HTML body
  // to the picker does not take the insertion from it.
  var insertTarget = null;
  function rememberInsertTarget(event) {
    if (event.target.matches && event.target.matches("[data-insert-target]")) {
      insertTarget = event.target;
    }
  }
  document.addEventListener("input", rememberInsertTarget);
  document.addEventListener("mouseup", rememberInsertTarget);
  document.addEventListener("keyup", function (event) {
    if (event.key !== "Tab" && event.key !== "Shift") {
      rememberInsertTarget(event);
    }
  });
  document.addEventListener("focusin", function (event) {
    if (!insertTarget || !document.body.contains(insertTarget)) {
      rememberInsertTarget(event);
    }
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-insert]");
    if (button) {
      var field = insertTarget && document.body.contains(insertTarget)
        ? insertTarget
        : document.querySelector("[data-insert-target]");
      if (!field) {
        return;
      }
      var text = button.getAttribute("data-insert");
      var start = field.selectionStart || 0;
      var end = field.selectionEnd || 0;
      field.value = field.value.slice(0, start) + text + field.value.slice(end);
      field.focus();
      field.setSelectionRange(start + text.length, start + text.length);
      field.dispatchEvent(new Event("input", { bubbles: true }));
      return;
    }
    // A step's "Move up" / "Move down" swaps it with its neighbour in place (a submit button:
    // without script it posts the builder back reordered); the focus stays on the button.
    var mover = event.target.closest && event.target.closest("[data-move]");
    if (mover) {
      event.preventDefault();
      var step = mover.closest("li");
      if (step) {
        var up = mover.getAttribute("data-move") === "up";
        var neighbour = up ? step.previousElementSibling : step.nextElementSibling;
        if (neighbour) {
          step.parentElement.insertBefore(up ? step : neighbour, up ? neighbour : step);
          mover.focus();
        }
      }
      return;
    }
    // A builder's "Remove" button takes out the part it names: its nearest enclosing element
    // matching data-remove (a sequence step, a skill row), never an element found by an id
    // built from data, which may hold characters a CSS selector does not allow.
    var remover = event.target.closest && event.target.closest("[data-remove]");
    if (remover) {
      // A step's Remove is a submit button (without script it posts the form back without
      // the step): here the part goes at once, and the form is not sent.
      event.preventDefault();
      var part = remover.closest(remover.getAttribute("data-remove"));
      if (part) {
        var list = part.parentElement;
        part.remove();
        // The first control a person can reach (a hidden input takes no focus, which would
        // leave it on <body>), else the control after the list (Add step).
        var reachable = "button, input:not([type=hidden]), select, textarea";
        var next = (list && list.querySelector(reachable)) || (list && list.parentElement && list.parentElement.querySelector(reachable));
        if (next) {
          next.focus();
        }
      }
    }
  });
  // The door without network (the check-in page's #door-offline): codes typed or scanned are
  // queued in localStorage with the time, per event, and uploaded in one batch when the browser
  // is back online; the queue is emptied only once the console answered, so nothing is lost
  // to a failed upload, and a repeated upload changes nothing (the API is idempotent).
  function doorQueueKey(section) {
    return "crm-door-queue:" + section.dataset.doorQueue;
  }
  function doorQueue(section) {
    try {
      return JSON.parse(window.localStorage.getItem(doorQueueKey(section)) || "[]");
    } catch (error) {
      return [];
    }
  }
  function showDoorQueue(section) {
    var queued = doorQueue(section).length;
    section.hidden = navigator.onLine && queued === 0;
    var said = section.querySelector("[data-door-queued]");
    if (said) {
      said.textContent = queued
        ? queued + (queued === 1 ? " check-in" : " check-ins") + " waiting to be uploaded."
        : "";
    }
  }
  // The API takes at most 500 check-ins an upload; a longer queue goes in several.
  var DOOR_UPLOAD_SIZE = 500;
  function uploadDoorQueue(section, continuing) {
    var queued = doorQueue(section).slice(0, DOOR_UPLOAD_SIZE);
    if (!queued.length || !navigator.onLine || section.dataset.uploading) {
      showDoorQueue(section);
      return;
    }
    section.dataset.uploading = "1";
    var taken = false;
    var result = document.querySelector(
      '[data-door-upload-result="' + section.dataset.doorQueue + '"]'
    );
    fetch(section.dataset.uploadUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
      body: JSON.stringify({ check_ins: queued }),
    })
      .then(function (response) {
        return response.text().then(function (html) {
          if (result) {
            // A long queue's pieces are shown one after the other.
            if (!continuing) {
              result.innerHTML = "";
            }
            result.insertAdjacentHTML("beforeend", html);
          }
          // Taken (or refused for good: a cancelled event, a wrong clock, as the answer
          // shown says); otherwise (signed out, a server error) kept for the next try.
          if (response.ok || response.status === 409 || response.status === 422) {
            // Only what was sent: a code queued meanwhile waits for the next upload.
            var left = doorQueue(section).slice(queued.length);
            window.localStorage.setItem(doorQueueKey(section), JSON.stringify(left));
            taken = true;
          }
        });
      })
      .catch(function () {
        // Still no way through: kept for the next "online".
      })
      .then(function () {
        delete section.dataset.uploading;
        if (taken && doorQueue(section).length) {
          uploadDoorQueue(section, true); // the next piece
        } else {
          showDoorQueue(section);
        }
      });
  }
  function eachDoor(work) {
    document.querySelectorAll("[data-door-queue]").forEach(work);
  }
  document.addEventListener("submit", function (event) {
    var form = event.target.closest && event.target.closest("form[data-door-offline-form]");
    if (!form) {
      return;
    }
    event.preventDefault();
    var section = form.closest("[data-door-queue]");
    var input = form.querySelector("input[name=code]");
    var code = input.value.trim();
    if (!code) {
      return;
    }
    var queued = doorQueue(section);
    queued.push({ code: code, checked_in_at: new Date().toISOString() });
    window.localStorage.setItem(doorQueueKey(section), JSON.stringify(queued));
    input.value = "";
    input.focus();
    uploadDoorQueue(section, false);
  });
  window.addEventListener("online", function () {
    eachDoor(function (section) {
      uploadDoorQueue(section, false);
    });
  });
  window.addEventListener("offline", function () {
    eachDoor(showDoorQueue);
  });
  document.addEventListener("DOMContentLoaded", function () {
    eachDoor(function (section) {
      uploadDoorQueue(section, false);
    });
  });
})();
