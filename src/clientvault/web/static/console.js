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

  // Forms that do something hard to undo (disable an account, revoke a token) ask first.
  document.addEventListener("submit", function (event) {
    var form = event.target instanceof HTMLFormElement ? event.target : null;
    var question = form ? form.getAttribute("data-confirm") : null;
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  // "Copy" buttons beside secrets shown once, recovery codes and the audit head hash. They
  // are hidden in the HTML and shown here, since they need script (the text stays selectable).
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return Promise.reject(new Error("clipboard unavailable"));
  }

  function textOf(element) {
    var items = element.querySelectorAll("li");
    if (items.length) {
      return Array.prototype.map.call(items, function (item) {
        return item.textContent.trim();
      }).join("\n");
    }
    return element.textContent.trim();
  }

  function setUpCopyButtons() {
    document.querySelectorAll("[data-copy-target]").forEach(function (button) {
      var target = document.getElementById(button.getAttribute("data-copy-target"));
      var label = button.querySelector("[data-copy-label]");
      if (!target || !label) {
        return;
      }
      var idle = label.textContent;
      button.hidden = false;
      button.addEventListener("click", function () {
        copyText(textOf(target)).then(
          function () {
            label.textContent = "Copied";
          },
          function () {
            // No clipboard: select the text so that the user can copy it by hand.
            var range = document.createRange();
            range.selectNodeContents(target);
            var selection = window.getSelection();
            selection.removeAllRanges();
            selection.addRange(range);
            label.textContent = "Selected";
          }
        );
        window.setTimeout(function () {
          label.textContent = idle;
        }, 2000);
      });
    });
  }

  function setUp() {
    setUpNavToggle();
    setUpCopyButtons();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
