// Rehber web chat: one conversation per browser, replies rendered with their own direction.
(function () {
  "use strict";
  const STRINGS = JSON.parse(document.getElementById("strings").textContent);
  const RTL = { ar: true, fa: true };
  const log = document.getElementById("log");
  const form = document.getElementById("composer");
  const input = document.getElementById("text");
  const status = document.getElementById("status");

  function randomId() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  let conversationId = localStorage.getItem("rehber.conversation");
  if (!conversationId) {
    conversationId = randomId();
    localStorage.setItem("rehber.conversation", conversationId);
  }
  const browserLanguage = (navigator.language || "tr").slice(0, 2);
  let uiLanguage = localStorage.getItem("rehber.language") || (STRINGS[browserLanguage] ? browserLanguage : "tr");

  function t(key) {
    return (STRINGS[uiLanguage] || STRINGS.tr || {})[key] || "";
  }

  function applyUi(language) {
    if (!STRINGS[language]) return;
    uiLanguage = language;
    document.documentElement.lang = language;
    document.documentElement.dir = RTL[language] ? "rtl" : "ltr";
    document.getElementById("title").textContent = t("title");
    input.placeholder = t("placeholder");
    document.getElementById("send").textContent = t("send");
    document.querySelectorAll(".languages button").forEach((b) => {
      b.setAttribute("aria-pressed", String(b.dataset.lang === language));
    });
  }

  function addMessage(who, text, language, direction, buttons) {
    const item = document.createElement("li");
    item.className = "msg " + who;
    item.dir = direction || "auto";
    if (language) item.lang = language;
    const bubble = document.createElement("div");
    bubble.className = "bubble";
    bubble.dir = direction || "auto";
    bubble.textContent = text;
    item.appendChild(bubble);
    if (buttons && buttons.length) {
      const row = document.createElement("div");
      row.className = "buttons";
      buttons.forEach((b) => {
        const button = document.createElement("button");
        button.type = "button";
        button.dir = "auto";
        button.textContent = b.title;
        button.addEventListener("click", () => send(b.payload, b.title));
        row.appendChild(button);
      });
      item.appendChild(row);
    }
    log.appendChild(item);
    item.scrollIntoView({ block: "end" });
  }

  function showReplies(data) {
    (data.messages || []).forEach((m) => addMessage("bot", m.text, m.language, m.direction, m.buttons));
    if (data.language && data.language !== uiLanguage) {
      applyUi(data.language);
      localStorage.setItem("rehber.language", data.language);
    }
  }

  async function send(text, shown) {
    addMessage("user", shown === undefined ? text : shown, null, "auto", []);
    status.textContent = "";
    try {
      const response = await fetch("/api/webchat/messages", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ conversation_id: conversationId, message_id: randomId(), text: text, language: uiLanguage }),
      });
      if (!response.ok) throw new Error("HTTP " + response.status);
      showReplies(await response.json());
    } catch (error) {
      status.textContent = t("connection_error");
    }
  }

  async function poll() {
    try {
      const response = await fetch("/api/webchat/outbox?conversation_id=" + encodeURIComponent(conversationId));
      if (response.ok) showReplies(await response.json());
    } catch (error) { /* offline: try again later */ }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value;
    if (!text.trim()) return;
    input.value = "";
    send(text);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  document.querySelectorAll(".languages button").forEach((b) => {
    b.addEventListener("click", () => {
      applyUi(b.dataset.lang);
      localStorage.setItem("rehber.language", b.dataset.lang);
      send('/choose_language{"language":"' + b.dataset.lang + '"}', b.textContent);
    });
  });
  applyUi(uiLanguage);
  setInterval(poll, 3000);
})();
