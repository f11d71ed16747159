// Progressive enhancement only: every page works without this file.
// Tell the server the browser's timezone so dates render in it (UTC otherwise).
(function () {
  try {
    var tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (tz && document.cookie.indexOf("tz=" + tz) === -1) {
      document.cookie = "tz=" + tz + "; path=/; max-age=31536000; samesite=lax";
    }
  } catch (e) { /* old browser: stay in UTC */ }
})();

// Live seat-change preview: as the number changes, ask the server what it would cost
// (the same figures as the confirmation step). Without JavaScript, "Review change" shows them.
(function () {
  var form = document.querySelector("form[data-live-preview]");
  var output = document.querySelector("[data-live-preview-output]");
  if (!form || !output || !window.fetch) return;
  var input = form.querySelector("input[name=seats]");
  if (!input) return;
  var timer = null;
  var asked = 0;
  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var ticket = ++asked;
      var url = form.getAttribute("data-live-preview") + "?seats=" + encodeURIComponent(input.value);
      output.textContent = "Working out the cost…";
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.json(); })
        .then(function (body) {
          if (ticket !== asked) return; // a newer number was typed meanwhile
          output.textContent = body.summary || body.error || "";
        })
        .catch(function () {
          if (ticket === asked) output.textContent = "";
        });
    }, 400);
  });
})();
