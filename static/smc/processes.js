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

// Ticket editor: the back-side settings show only for ADF duplex, and their own values only when
// the back is not "same as front". Without JavaScript every field stays visible.
(function () {
  "use strict";
  function sync() {
    var source = document.querySelector("select[name=t-input_source]");
    var back = document.querySelector("[data-back-side]");
    if (!source || !back) return;
    // A field with an error is never hidden, so that the message can be read.
    back.hidden = source.value !== "ADFDuplex" && !back.querySelector(".error");
    var same = document.querySelector("input[name=t-back_same]");
    var own = back.querySelector("[data-back-own]");
    if (same && own) own.hidden = same.checked && !own.querySelector(".error");
  }
  document.addEventListener("change", function (event) {
    var name = event.target && event.target.name;
    if (name === "t-input_source" || name === "t-back_same") sync();
  });
  sync();
})();
