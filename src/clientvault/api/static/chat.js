/*
 * clientvault support chat widget: answers from the knowledge base, hands over to a person.
 *
 * <script src="https://YOUR-CLIENTVAULT/chat.js" data-write-key="cvwk_..." data-language="en" async></script>
 *
 * No dependencies, no eval, no inline style attributes (styles are set through the CSSOM, which
 * a Content-Security-Policy without 'unsafe-inline' allows), keyboard usable (Escape closes,
 * focus moves into the dialog and back), with labels for screen readers and a live region for
 * answers. It reads the snippet's anonymous id cookie (cv_aid) so a tracked visitor is known
 * to the agent without typing anything; nothing personal is ever shown back.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.clientvaultChat) { return; }
  var cfg = script.dataset;
  var base = new URL("/v1/chat/", script.src).href;
  var writeKey = cfg.writeKey || "";
  var language = cfg.language || (document.documentElement.lang || "en").slice(0, 2);
  var fr = language === "fr";
  var t = {
    open: fr ? "Besoin d'aide ?" : "Need help?",
    title: fr ? "Aide" : "Help",
    placeholder: fr ? "Votre question" : "Your question",
    send: fr ? "Envoyer" : "Send",
    human: fr ? "Parler à une personne" : "Talk to a person",
    close: fr ? "Fermer" : "Close",
    handing: fr ? "Je vous mets en relation avec un conseiller." : "I'm passing you to a person.",
    email: fr ? "Votre e-mail, pour que l'on vous réponde :" : "Your e-mail, so that we can answer:",
    opened: fr ? "C'est noté : un conseiller vous répond bientôt." : "Done: a person will answer you soon.",
    error: fr ? "Désolé, une erreur est survenue." : "Sorry, something went wrong."
  };
  var transcript = [];

  function el(tag, props, styles) {
    var node = document.createElement(tag);
    Object.keys(props || {}).forEach(function (k) {
      if (k === "text") { node.textContent = props[k]; } else { node.setAttribute(k, props[k]); }
    });
    Object.keys(styles || {}).forEach(function (k) { node.style[k] = styles[k]; });
    return node;
  }
  function cookie(name) {
    var match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : null;
  }
  function post(path, body) {
    body.writeKey = writeKey;
    return fetch(base + path, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body)
    }).then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); });
  }

  var launcher = el("button", { type: "button", "aria-haspopup": "dialog", "aria-expanded": "false", text: t.open },
    { position: "fixed", right: "20px", bottom: "20px", padding: "10px 16px", borderRadius: "20px",
      border: "0", background: "#1d4ed8", color: "#fff", font: "15px sans-serif", cursor: "pointer", zIndex: "2147483000" });
  var panel = el("div", { role: "dialog", "aria-label": t.title, "aria-modal": "false", hidden: "" },
    { position: "fixed", right: "20px", bottom: "70px", width: "320px", maxHeight: "70vh", display: "flex",
      flexDirection: "column", background: "#fff", color: "#111", border: "1px solid #ccc", borderRadius: "8px",
      font: "14px sans-serif", boxShadow: "0 4px 16px rgba(0,0,0,.2)", zIndex: "2147483000" });
  var header = el("div", {}, { display: "flex", justifyContent: "space-between", padding: "8px 12px", borderBottom: "1px solid #eee" });
  header.appendChild(el("strong", { text: t.title }));
  var closer = el("button", { type: "button", "aria-label": t.close, text: "×" }, { border: "0", background: "none", fontSize: "18px", cursor: "pointer" });
  header.appendChild(closer);
  var log = el("div", { role: "log", "aria-live": "polite" }, { overflowY: "auto", padding: "8px 12px", flex: "1" });
  var form = el("form", {}, { display: "flex", gap: "6px", padding: "8px 12px", borderTop: "1px solid #eee" });
  var input = el("input", { type: "text", "aria-label": t.placeholder, placeholder: t.placeholder, maxlength: "500", required: "" }, { flex: "1" });
  var send = el("button", { type: "submit", text: t.send });
  form.appendChild(input); form.appendChild(send);
  var human = el("button", { type: "button", text: t.human }, { margin: "0 12px 10px", cursor: "pointer" });
  panel.appendChild(header); panel.appendChild(log); panel.appendChild(form); panel.appendChild(human);

  function say(who, text) {
    var line = el("p", { "data-author": who }, { margin: "6px 0", textAlign: who === "visitor" ? "right" : "left" });
    line.textContent = text;
    log.appendChild(line);
    log.scrollTop = log.scrollHeight;
  }
  function toggle(open) {
    panel.hidden = !open;
    launcher.setAttribute("aria-expanded", open ? "true" : "false");
    (open ? input : launcher).focus();
  }
  function askEmail() {
    var emailForm = el("form", {}, { display: "flex", gap: "6px", padding: "0 12px 10px" });
    var label = el("label", { for: "cv-chat-email", text: t.email });
    var email = el("input", { id: "cv-chat-email", type: "email", required: "", autocomplete: "email" }, { flex: "1" });
    emailForm.appendChild(email); emailForm.appendChild(el("button", { type: "submit", text: t.send }));
    panel.appendChild(label); panel.appendChild(emailForm);
    email.focus();
    emailForm.addEventListener("submit", function (event) {
      event.preventDefault();
      handOver(email.value).then(function () { emailForm.remove(); label.remove(); });
    });
  }
  function handOver(email) {
    var body = { anonymousId: cookie("cv_aid"), language: language, transcript: transcript.slice(-50) };
    if (email) { body.email = email; }
    return post("handover", body).then(function (answer) {
      if (answer.status === "email_needed") { askEmail(); } else { say("bot", t.opened); form.hidden = true; human.hidden = true; }
    }).catch(function () { say("bot", t.error); });
  }
  function start() {
    if (!transcript.some(function (l) { return l.author === "visitor"; })) { transcript.push({ author: "visitor", text: t.human }); }
    say("bot", t.handing);
    transcript.push({ author: "bot", text: t.handing });
    handOver(null);
  }

  launcher.addEventListener("click", function () { toggle(panel.hidden); });
  closer.addEventListener("click", function () { toggle(false); });
  panel.addEventListener("keydown", function (event) { if (event.key === "Escape") { toggle(false); } });
  human.addEventListener("click", start);
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var question = input.value.trim();
    if (!question) { return; }
    input.value = "";
    say("visitor", question);
    transcript.push({ author: "visitor", text: question });
    post("ask", { question: question, language: language }).then(function (reply) {
      if (reply.handover) { start(); return; }
      say("bot", reply.answer);
      transcript.push({ author: "bot", text: reply.answer });
    }).catch(function () { say("bot", t.error); });
  });

  function mount() { document.body.appendChild(launcher); document.body.appendChild(panel); }
  if (document.body) { mount(); } else { document.addEventListener("DOMContentLoaded", mount); }
  window.clientvaultChat = { open: function () { toggle(true); } };
})();
