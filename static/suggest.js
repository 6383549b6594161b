// Suggests published solutions while a contact types the subject of a new request.
// Loaded from /static/ (the pages allow no inline script); builds the list with DOM calls and
// textContent only, so nothing from the server is ever parsed as HTML.
(function () {
  "use strict";
  var input = document.getElementById("subject");
  var box = document.getElementById("suggestions");
  if (!input || !box || !window.fetch) {
    return;
  }
  var list = box.querySelector("ul");
  var url = input.getAttribute("data-suggest-url");
  var timer = null;
  var latest = 0;

  function show(solutions) {
    while (list.firstChild) {
      list.removeChild(list.firstChild);
    }
    solutions.forEach(function (solution) {
      var item = document.createElement("li");
      var link = document.createElement("a");
      link.href = solution.url;
      link.target = "_blank";
      link.rel = "noopener";
      link.textContent = solution.title;
      item.appendChild(link);
      list.appendChild(item);
    });
    box.hidden = solutions.length === 0;
  }

  function ask() {
    var text = input.value.trim();
    var ticket = ++latest;
    if (text.length < 3) {
      show([]);
      return;
    }
    fetch(url + "?q=" + encodeURIComponent(text), {
      credentials: "same-origin",
      headers: { Accept: "application/json" }
    })
      .then(function (response) {
        return response.ok ? response.json() : { solutions: [] };
      })
      .then(function (answer) {
        if (ticket === latest && answer && Array.isArray(answer.solutions)) {
          show(answer.solutions.filter(function (s) {
            return typeof s.url === "string" && s.url.charAt(0) === "/";
          }));
        }
      })
      .catch(function () {
        show([]);
      });
  }

  input.addEventListener("input", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(ask, 300);
  });
  ask();
})();
