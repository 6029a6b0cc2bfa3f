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

  // A response htmx swapped into the page as an error (4xx/5xx): move focus to its message
  // so keyboard and screen-reader users learn of it.
  document.addEventListener("htmx:afterSettle", function (event) {
    var alert = event.target.querySelector && event.target.querySelector('[role="alert"]');
    if (alert) {
      alert.setAttribute("tabindex", "-1");
      alert.focus();
    }
  });
})();
