// Live hints: a websocket on ws/jobs/ tells open pages that something changed; elements with
// data-live-refresh re-fetch their fragment through htmx. Without the socket, pages still work
// (elements with hx-trigger="every Ns" poll).
(function () {
  "use strict";
  if (!window.WebSocket || !document.querySelector("[data-live-refresh]")) return;
  var scheme = location.protocol === "https:" ? "wss://" : "ws://";
  var socket = new WebSocket(scheme + location.host + "/ws/jobs/");
  socket.onmessage = function () {
    document.querySelectorAll("[data-live-refresh]").forEach(function (el) {
      if (window.htmx) window.htmx.trigger(el, "smc:changed");
    });
  };
})();
