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

  // Uploads (import files): multipart bodies stream to their route untouched, so the CSRF
  // token goes in the X-CSRF-Token header, which only script can set. The answer is the
  // job's page (after the redirect) or the form again with its error.
  document.addEventListener("submit", function (event) {
    var form = event.target instanceof HTMLFormElement ? event.target : null;
    if (!form || !form.hasAttribute("data-upload") || event.defaultPrevented) {
      return;
    }
    event.preventDefault();
    var data = new FormData(form);
    var token = data.get("csrf_token");
    data.delete("csrf_token");
    var status = form.querySelector("[data-upload-status]");
    if (status) {
      status.hidden = false;
    }
    form.querySelectorAll("button").forEach(function (button) {
      button.disabled = true;
    });
    fetch(form.action, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "X-CSRF-Token": token || "" }
    }).then(function (response) {
      if (response.redirected && response.ok) {
        window.location.assign(response.url);
        return null;
      }
      return response.text().then(function (html) {
        document.open();
        document.write(html);
        document.close();
      });
    });
  });

  // Progress of a background job: poll its status and update the fields; reload once done.
  function setUpPolling() {
    var panel = document.querySelector("[data-poll]");
    if (!panel) {
      return;
    }
    var url = panel.getAttribute("data-poll");
    function poll() {
      fetch(url, { credentials: "same-origin" }).then(function (response) {
        return response.ok ? response.json() : null;
      }).then(function (job) {
        if (!job) {
          return;
        }
        if (job.finished) {
          window.location.reload();
          return;
        }
        panel.querySelectorAll("[data-field]").forEach(function (field) {
          var name = field.getAttribute("data-field");
          if (name === "bar") {
            field.value = job.percent;
          } else if (name === "percent") {
            field.textContent = job.percent + " %";
          } else if (name in job) {
            field.textContent = typeof job[name] === "number" ? job[name].toLocaleString("en") : job[name];
          }
        });
        window.setTimeout(poll, 1500);
      });
    }
    window.setTimeout(poll, 1000);
  }

  function setUp() {
    setUpNavToggle();
    setUpCopyButtons();
    setUpPolling();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
