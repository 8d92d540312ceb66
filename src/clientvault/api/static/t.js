/*
 * clientvault website snippet: page views, clicks (for heatmaps), scroll depth, track and
 * identify, A/B test assignments and personalised content slots.
 *
 * <script src="https://YOUR-CLIENTVAULT/t.js" data-write-key="cvwk_..."
 *         data-require-consent="true" data-respect-gpc="true" data-respect-dnt="true" async></script>
 *
 * Calls go to the server the script was loaded from, in batches, by navigator.sendBeacon
 * (a "simple" text/plain request: no CORS preflight, and it survives page unload).
 * Nothing is sent while consent is required and not given, nor when the browser signals
 * Global Privacy Control or Do-Not-Track and the site chose to honour them.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.clientvault) { return; }
  var cfg = script.dataset;
  var endpoint = new URL("/v1/batch", script.src).href;
  var writeKey = cfg.writeKey || "";
  var COOKIE = "cv_aid", CONSENT = "cv_consent", FLUSH_MS = 2000, MAX_QUEUE = 50;
  var queue = [];
  var timer = null;

  function readCookie(name) {
    var match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : null;
  }
  function writeCookie(name, value, days) {
    var secure = location.protocol === "https:" ? "; Secure" : "";
    document.cookie = name + "=" + encodeURIComponent(value) + "; Max-Age=" + days * 86400 +
      "; Path=/; SameSite=Lax" + secure;
  }
  function uuid() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }
  function signalled() {
    var gpc = cfg.respectGpc === "true" && navigator.globalPrivacyControl === true;
    var dnt = cfg.respectDnt === "true" && (navigator.doNotTrack === "1" || window.doNotTrack === "1");
    return gpc || dnt;
  }
  function consented() {
    return cfg.requireConsent !== "true" || readCookie(CONSENT) === "granted";
  }
  function allowed() { return !signalled() && consented(); }

  function anonymousId() {
    var id = readCookie(COOKIE);
    if (!id) { id = uuid(); }
    if (allowed()) { writeCookie(COOKIE, id, 365); }
    return id;
  }
  var userId = null;

  function context() {
    return {
      page: { url: location.href, path: location.pathname, title: document.title, referrer: document.referrer },
      screen: { width: window.innerWidth, height: window.innerHeight },
      userAgent: navigator.userAgent,
      locale: navigator.language,
      library: { name: "clientvault-snippet", version: "1" }
    };
  }
  function enqueue(message) {
    if (!allowed()) { return; }
    message.messageId = uuid();
    message.anonymousId = anonymousId();
    if (userId) { message.userId = userId; }
    message.timestamp = new Date().toISOString();
    message.context = context();
    queue.push(message);
    if (queue.length >= MAX_QUEUE) { flush(); } else if (!timer) { timer = setTimeout(flush, FLUSH_MS); }
  }
  function flush() {
    if (timer) { clearTimeout(timer); timer = null; }
    if (!queue.length || !allowed()) { queue = []; return; }
    var body = JSON.stringify({ writeKey: writeKey, sentAt: new Date().toISOString(), batch: queue });
    queue = [];
    var blob = new Blob([body], { type: "text/plain;charset=UTF-8" });
    if (!(navigator.sendBeacon && navigator.sendBeacon(endpoint, blob))) {
      fetch(endpoint, { method: "POST", body: blob, keepalive: true, mode: "no-cors" });
    }
  }

  var api = {
    page: function (name, properties) {
      enqueue({ type: "page", name: name || document.title, properties: properties || {} });
    },
    track: function (event, properties) {
      enqueue({ type: "track", event: event, properties: properties || {} });
    },
    identify: function (id, traits) {
      userId = id ? String(id) : userId;
      enqueue({ type: "identify", traits: traits || {} });
    },
    consent: function (granted) {
      writeCookie(CONSENT, granted ? "granted" : "denied", 365);
      if (!granted) { queue = []; }
    },
    // A/B test: the variant of experiment `key` for this visitor (deterministic, from the
    // server), passed to `callback` (null when tracking is not allowed or the call fails);
    // an assigned visitor's exposure is tracked as Segment's "Experiment Viewed".
    experiment: function (key, callback) {
      var done = function (variant) { if (callback) { callback(variant); } return variant; };
      if (!allowed()) { return Promise.resolve(done(null)); }
      var url = new URL("/api/v1/experiments/" + encodeURIComponent(key) + "/assignment", script.src);
      url.searchParams.set("writeKey", writeKey);
      url.searchParams.set(userId ? "user_id" : "anonymous_id", userId || anonymousId());
      return fetch(url.href, { credentials: "omit" })
        .then(function (response) { return response.ok ? response.json() : null; })
        .catch(function () { return null; })
        .then(function (a) {
          if (a && a.in_experiment) {
            api.track("Experiment Viewed", { experiment_id: a.experiment_id, variation_id: a.variation_id });
          }
          return done(a ? a.variation_id : null);
        });
    },
    // Personalised content: which content of slot `key` this visitor sees (the slot's
    // default for anonymous or unconsented visitors), written into every element
    // [data-cv-slot=key]: its [data-cv-field=headline|body] children get the text (as
    // textContent, never markup), [data-cv-field=link] the href, [data-cv-field=image] the
    // src. Resolves with the decision, passed to `callback` too (null when the call fails).
    personalize: function (key, callback) {
      var done = function (d) { if (callback) { callback(d); } return d; };
      var track = allowed();
      var body = { writeKey: writeKey, slot: key, track: track, page: location.href };
      if (track) { body.anonymousId = anonymousId(); }
      return fetch(new URL("/v1/personalize", script.src).href, {
        method: "POST", credentials: "omit", body: JSON.stringify(body),
        headers: { "Content-Type": "application/json" }
      })
        .then(function (response) { return response.ok ? response.json() : null; })
        .catch(function () { return null; })
        .then(function (d) {
          if (d) { fill(key, d); }
          return done(d);
        });
    },
    flush: flush
  };
  window.clientvault = api;

  function safeUrl(value) {
    try {
      var url = new URL(value, location.href);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch (e) { return null; }
  }
  function fill(key, decision) {
    var content = decision.content || {};
    var slots = document.querySelectorAll("[data-cv-slot]");
    Array.prototype.forEach.call(slots, function (slot) {
      if (slot.getAttribute("data-cv-slot") !== key) { return; }
      slot.setAttribute("data-cv-variant", decision.variant);
      Array.prototype.forEach.call(slot.querySelectorAll("[data-cv-field]"), function (el) {
        var name = el.getAttribute("data-cv-field"), value = content[name];
        if (name === "headline" || name === "body") { el.textContent = value || ""; }
        var url = value ? safeUrl(value) : null;
        if (name === "link" && url) { el.setAttribute("href", url); }
        if (name === "image" && url) { el.setAttribute("src", url); }
      });
    });
  }

  document.addEventListener("click", function (event) {
    var doc = document.documentElement;
    var width = Math.max(doc.scrollWidth, 1), height = Math.max(doc.scrollHeight, 1);
    var target = event.target && event.target.closest ? event.target.closest("a,button,[id]") : null;
    enqueue({
      type: "track",
      event: "Element Clicked",
      properties: {
        x: Math.round((event.pageX / width) * 10000) / 10000,
        y: Math.round((event.pageY / height) * 10000) / 10000,
        viewport: { width: window.innerWidth, height: window.innerHeight },
        path: location.pathname,
        element: target ? (target.id ? "#" + target.id : target.tagName.toLowerCase()) : null
      }
    });
  }, true);
  // Scroll depth: the furthest part of the page seen, as a % of its height, measured at most
  // every 250 ms while scrolling (a passive listener: never slows scrolling) and sent as one
  // "Page Scrolled" event when the page is hidden or left (again only if it grew since).
  var maxDepth = 0, sentDepth = 0, scrollTimer = null;
  function measureDepth() {
    scrollTimer = null;
    var doc = document.documentElement;
    var seen = (window.scrollY || doc.scrollTop || 0) + window.innerHeight;
    maxDepth = Math.max(maxDepth, Math.min(100, Math.round((seen / Math.max(doc.scrollHeight, 1)) * 100)));
  }
  function reportDepth() {
    measureDepth();
    if (maxDepth > sentDepth) {
      sentDepth = maxDepth;
      enqueue({
        type: "track",
        event: "Page Scrolled",
        properties: {
          depth: maxDepth,
          path: location.pathname,
          viewport: { width: window.innerWidth, height: window.innerHeight }
        }
      });
    }
  }
  window.addEventListener("scroll", function () {
    if (!scrollTimer) { scrollTimer = setTimeout(measureDepth, 250); }
  }, { passive: true });
  function leave() { reportDepth(); flush(); }
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") { leave(); }
  });
  window.addEventListener("pagehide", leave);
  api.page();
})();
