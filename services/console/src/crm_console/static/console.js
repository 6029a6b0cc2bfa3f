// The console's only script of its own: the CSRF token on every htmx write, charts drawn
// from the JSON configuration the server put on each <canvas data-chart>, and copying a link.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = csrfToken();
  });

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

  document.addEventListener("DOMContentLoaded", function () {
    drawCharts(document);
    absoluteLinks(document);
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    drawCharts(event.target);
    absoluteLinks(event.target);
  });
  // A link to share (an event's public registration page) is rendered as a path: the browser
  // knows the address people reach the console at, the console does not.
  function absoluteLinks(root) {
    root.querySelectorAll("input[data-absolute-link]").forEach(function (input) {
      if (input.value.charAt(0) === "/") {
        input.value = window.location.origin + input.value;
      }
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
    }
  });

  // Campaigns: the template editor's merge-field picker inserts `{{ field }}` where the cursor
  // last was in the subject or a body (htmx cannot edit a field's text), and tells htmx the
  // field changed so the live preview follows.
  var insertTarget = null;
  document.addEventListener("focusin", function (event) {
    if (event.target.matches && event.target.matches("[data-insert-target]")) {
      insertTarget = event.target;
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
    // A builder's "Remove" button takes out the part it names (a sequence step).
    var remover = event.target.closest && event.target.closest("[data-remove]");
    if (remover) {
      var part = document.querySelector(remover.getAttribute("data-remove"));
      if (part) {
        var list = part.parentElement;
        part.remove();
        var next = list && list.querySelector("button, input, select");
        if (next) {
          next.focus();
        }
      }
    }
  });
})();
