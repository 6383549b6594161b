// Small progressive enhancements; every page works without them.
// A button with data-enable-after="N" stays disabled for N seconds (the resend cooldown),
// while the hint beside it counts the seconds down.
"use strict";
document.querySelectorAll("[data-enable-after]").forEach(function (button) {
  var wait = parseInt(button.getAttribute("data-enable-after"), 10);
  if (!(wait > 0)) {
    return;
  }
  var hint = button.parentElement.querySelector("[data-countdown-for]");
  var count = hint ? hint.querySelector("[data-countdown]") : null;
  var left = wait;
  button.disabled = true;
  var timer = window.setInterval(function () {
    left -= 1;
    if (count && left > 0) {
      count.textContent = String(left);
    }
    if (left <= 0) {
      window.clearInterval(timer);
      button.disabled = false;
      if (hint) {
        hint.hidden = true;
      }
    }
  }, 1000);
});
