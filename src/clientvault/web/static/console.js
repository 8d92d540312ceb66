// The console's behaviour. Loaded as a file (never inline) so a strict CSP can forbid inline
// scripts. Everything here is progressive enhancement: pages work without it.
(function () {
  "use strict";

  document.documentElement.classList.replace("no-js", "js");

  // Navigation entries whose page does not exist yet are not followable.
  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    var link = target ? target.closest('a[aria-disabled="true"]') : null;
    if (link) {
      event.preventDefault();
    }
  });

  // On narrow screens the navigation folds behind the "Menu" button.
  function setUpNavToggle() {
    var toggle = document.querySelector(".nav-toggle");
    var sidebar = document.getElementById("sidebar");
    if (!toggle || !sidebar) {
      return;
    }
    toggle.hidden = false;
    toggle.addEventListener("click", function () {
      var open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", String(open));
      sidebar.classList.toggle("is-open", open);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUpNavToggle);
  } else {
    setUpNavToggle();
  }
})();
