// The console's only script of its own: the CSRF token on every htmx write, and charts drawn
// from the JSON configuration the server put on each <canvas data-chart>.
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
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    drawCharts(event.target);
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
})();
