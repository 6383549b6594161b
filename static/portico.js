// Small progressive enhancements; every page works without them.
// A button with data-enable-after="N" stays disabled for N seconds (the resend cooldown).
"use strict";
document.querySelectorAll("[data-enable-after]").forEach(function (button) {
  var wait = parseInt(button.getAttribute("data-enable-after"), 10);
  if (!(wait > 0)) {
    return;
  }
  button.disabled = true;
  window.setTimeout(function () {
    button.disabled = false;
    var hint = button.parentElement.querySelector("[data-countdown-for]");
    if (hint) {
      hint.hidden = true;
    }
  }, wait * 1000);
});
