// Scan-process editor: a directory search result adds its group to the allowed-groups list.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-add-group]");
    if (!button) return;
    var area = document.querySelector("textarea[name=allowed_groups]");
    if (!area) return;
    var id = button.getAttribute("data-add-group");
    var lines = area.value.split("\n").map(function (s) { return s.trim(); }).filter(Boolean);
    if (lines.indexOf(id) === -1) lines.push(id);
    area.value = lines.join("\n");
    area.dispatchEvent(new Event("change"));
  });
})();
