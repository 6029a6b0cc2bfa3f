// An event's registration form on a careers site. Pasted there as
//   <script src="https://<console>/console/public/embed.js" data-event="<event id>" async></script>
// it puts the form's frame where the script tag is and keeps the frame as tall as the form.
// The frame tells its height by postMessage; only a message from the frame itself, from the
// console's origin (the one this script came from) and of the expected shape is taken.
(function () {
  "use strict";
  var MESSAGE = "recruitcrm:event-embed:height";
  var MAX_HEIGHT = 20000;
  var EVENT_ID = /^[A-Za-z0-9_-]{1,100}$/;
  var SCRIPT_PATH = /\/public\/embed\.js$/;
  var frames = [];

  function embed(script) {
    script.setAttribute("data-embedded", "");
    var source = new URL(script.src, document.baseURI);
    var eventId = script.getAttribute("data-event") || "";
    if (!EVENT_ID.test(eventId)) {
      window.console.error("embed.js: data-event must be the event's id, got", eventId);
      return;
    }
    var consolePath = source.pathname.replace(SCRIPT_PATH, "");
    var frame = document.createElement("iframe");
    frame.src = source.origin + consolePath + "/public/events/" + eventId + "/embed";
    frame.title = script.getAttribute("data-title") || "Event registration";
    frame.style.width = "100%";
    frame.style.border = "0";
    frame.style.display = "block";
    frame.style.height = "640px"; // until the form says how tall it is
    var parent = script.parentNode;
    if (!parent || parent === document.head) {
      document.body.appendChild(frame);
    } else {
      parent.insertBefore(frame, script.nextSibling);
    }
    frames.push({ frame: frame, origin: source.origin });
  }

  function onMessage(event) {
    for (var i = 0; i < frames.length; i += 1) {
      var embedded = frames[i];
      if (event.source !== embedded.frame.contentWindow) {
        continue;
      }
      var data = event.data;
      if (event.origin !== embedded.origin || !data || typeof data !== "object") {
        return;
      }
      if (data.type !== MESSAGE || typeof data.height !== "number" || !isFinite(data.height)) {
        return;
      }
      var height = Math.min(Math.max(Math.ceil(data.height), 0), MAX_HEIGHT);
      embedded.frame.style.height = height + "px";
      return;
    }
  }

  // Every snippet on the page not embedded yet (a page may hold several, each loading this).
  var scripts = document.querySelectorAll("script[data-event][src]:not([data-embedded])");
  for (var i = 0; i < scripts.length; i += 1) {
    if (SCRIPT_PATH.test(new URL(scripts[i].src, document.baseURI).pathname)) {
      embed(scripts[i]);
    }
  }
  if (frames.length) {
    window.addEventListener("message", onMessage);
  }
})();
