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
