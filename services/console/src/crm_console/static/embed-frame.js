// Inside an event's embeddable registration form, framed by a careers site: tells the page
// around it how tall the form is whenever that changes (a refusal shown by a field, the
// confirmation), so its embed.js sizes the frame to it and no inner scroll bar appears.
// The message carries the height alone (nothing about the visitor), so any page framing the
// form may read it; which pages may frame it at all is the tenant's list (frame-ancestors).
(function () {
  "use strict";
  if (window.parent === window) {
    return;
  }
  var MESSAGE = "recruitcrm:event-embed:height";
  var last = -1;

  function report() {
    var height = Math.ceil(document.body.getBoundingClientRect().height);
    if (height !== last) {
      last = height;
      window.parent.postMessage({ type: MESSAGE, height: height }, "*");
    }
  }

  report();
  if (window.ResizeObserver) {
    new ResizeObserver(report).observe(document.body);
  } else {
    window.addEventListener("resize", report);
    document.addEventListener("htmx:afterSettle", report);
  }
  window.addEventListener("load", report);
})();
