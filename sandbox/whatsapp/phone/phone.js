/* The WhatsApp emulator's browser phone: plays one user through the emulator's /_control/ API.
 *
 * - messages arrive by long-polling GET /_control/users/{wa_id}/conversation?since&wait_for&timeout;
 *   delivery ticks are refreshed from the same route while any message is still moving;
 * - the user writes with POST users/{wa_id}/send, taps buttons and list rows with users/{wa_id}/tap;
 * - flow messages open with POST users/{wa_id}/flows/open and go on with flow-sessions/{id}/...;
 * - Paynow prompts come from GET /_control/paynow/prompts?phone= (the emulator proxies Paynow's
 *   control API, see phone_routes.py) and are answered with .../prompts/{ref}/approve|decline;
 * - a username user (POST /_control/users {username}) is named by their BSUID (the "handle") in
 *   every route: the business never sees their number; the prompts go to the phone's own number;
 * - a photo or a PDF is sent base64 with POST users/{handle}/send {type: image|document, data}.
 * No framework, no build step, no network access beyond this origin.
 */
(function () {
  "use strict";

  var LONG_POLL_SECONDS = 25;
  var REFRESH_MS = 1200;
  var PROMPT_POLL_MS = 1500;
  var SETTLE_WINDOW_SECONDS = 300;
  var METHOD_NAMES = { ecocash: "EcoCash", onemoney: "OneMoney", innbucks: "InnBucks" };

  var state = {
    gen: 0,
    waId: null, // the user's handle: their wa_id, or a username user's BSUID
    name: "",
    username: "", // set for a username user (their number hidden from the business)
    promptPhone: "", // where mobile-money prompts go: the wa_id, or a username user's own number
    config: { business_name: "Business", display_phone_number: "", paynow: false, currency: "USD" },
    messages: new Map(), // wamid -> message (as the control API serves it)
    lastSeq: 0,
    flow: null, // the open flow session
    prompt: null, // the Paynow prompt on screen
    answeredPrompts: new Set(),
    online: true,
  };

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        var value = attrs[key];
        if (value === undefined || value === null || value === false) return;
        if (key === "className") node.className = value;
        else if (key === "text") node.textContent = value;
        else if (key.indexOf("on") === 0 && typeof value === "function") node.addEventListener(key.slice(2), value);
        else node.setAttribute(key, value === true ? "" : value);
      });
    }
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  // -- HTTP ------------------------------------------------------------------------------------
  function api(method, path, body, timeoutMs) {
    var controller = new AbortController();
    var timer = setTimeout(function () { controller.abort(); }, timeoutMs || 15000);
    var options = { method: method, signal: controller.signal, headers: {} };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(path, options)
      .then(function (response) {
        return response.text().then(function (text) {
          var data = null;
          try { data = text ? JSON.parse(text) : {}; } catch (e) { data = { error: text }; }
          return { status: response.status, ok: response.ok, data: data };
        });
      })
      .finally(function () { clearTimeout(timer); });
  }

  function sleep(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }

  function userPath(suffix) { return "/_control/users/" + encodeURIComponent(state.waId) + suffix; }

  function errorText(result) {
    var data = result.data || {};
    return data.message || data.error || ("HTTP " + result.status);
  }

  // -- toasts and notes ----------------------------------------------------------------------------
  var toastTimer = null;
  function toast(text) {
    var node = $("toast");
    node.textContent = text;
    node.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { node.hidden = true; }, 3500);
  }

  function systemNote(text, isError) {
    var list = $("messages");
    var empty = list.querySelector(".empty-chat");
    if (empty) empty.remove();
    list.appendChild(el("li", { className: "system-note" + (isError ? " error" : ""), text: text }));
    scrollToEnd(true);
  }

  function setConnection(online) {
    if (state.online === online) return;
    state.online = online;
    var node = $("connection");
    node.textContent = online ? "" : "Connecting to the emulator…";
    node.hidden = online;
  }

  // -- setup ---------------------------------------------------------------------------------------
  function loadConfig() {
    return api("GET", "/_control/phone/config").then(function (result) {
      if (result.ok) Object.assign(state.config, result.data);
    }).catch(function () {});
  }

  function showKnownUsers() {
    api("GET", "/_control/users").then(function (result) {
      var users = (result.ok && result.data.users) || [];
      var list = $("known-users-list");
      list.textContent = "";
      users.forEach(function (user) {
        list.appendChild(el("li", null, [
          el("button", {
            type: "button",
            "data-wa-id": user.handle,
            onclick: function () {
              openChat(user.handle, user.name, { username: user.username, promptPhone: user.private_phone });
            },
          }, [
            el("span", { className: "user-name", text: user.name }),
            el("span", { className: "user-id", text: user.wa_id ? "+" + user.wa_id : "@" + user.username }),
          ]),
        ]));
      });
      $("known-users").hidden = users.length === 0;
    }).catch(function () {});
  }

  function usernameMode() { return $("identity-username").checked; }

  function showIdentityFields() {
    var username = usernameMode();
    $("username-fields").hidden = !username;
    $("phone-fields").hidden = username;
    $("wa-id").required = !username;
  }

  function setupError(input, text) {
    var error = $("setup-error");
    error.textContent = text;
    error.hidden = false;
    input.setAttribute("aria-invalid", "true");
    input.focus();
  }

  // A username user: the emulator gives them a BSUID, the handle of every later call.
  function openUsernameChat(username, name, promptPhone) {
    var body = { username: username, name: name || username };
    if (promptPhone) body.private_phone = promptPhone;
    return api("POST", "/_control/users", body).then(function (result) {
      if (!result.ok) {
        setupError($("username"), errorText(result));
        return;
      }
      openChat(result.data.handle, result.data.name, { username: result.data.username, promptPhone: promptPhone });
    });
  }

  function onSetupSubmit(event) {
    event.preventDefault();
    if (usernameMode()) {
      var username = $("username").value.trim().replace(/^@/, "");
      var promptPhone = $("private-phone").value.replace(/[\s+\-()]/g, "");
      if (!/^[A-Za-z0-9._]{3,30}$/.test(username)) {
        setupError($("username"), "A username has 3 to 30 letters, digits, dots or underscores.");
        return;
      }
      if (promptPhone && !/^\d{6,15}$/.test(promptPhone)) {
        setupError($("private-phone"), "Enter 6 to 15 digits, with the country code, or leave it empty.");
        return;
      }
      $("setup-error").hidden = true;
      $("username").removeAttribute("aria-invalid");
      openUsernameChat(username, $("user-name").value.trim(), promptPhone);
      return;
    }
    var waId = $("wa-id").value.replace(/[\s+\-()]/g, "");
    var error = $("setup-error");
    if (!/^\d{6,15}$/.test(waId)) {
      error.textContent = "Enter 6 to 15 digits, with the country code (e.g. 263771234567).";
      error.hidden = false;
      $("wa-id").setAttribute("aria-invalid", "true");
      $("wa-id").focus();
      return;
    }
    error.hidden = true;
    $("wa-id").removeAttribute("aria-invalid");
    openChat(waId, $("user-name").value.trim());
  }

  function openChat(waId, name, identity) {
    identity = identity || {};
    state.gen += 1;
    state.waId = waId;
    state.name = name || "";
    state.username = identity.username || "";
    state.promptPhone = state.username ? (identity.promptPhone || "") : waId;
    state.messages = new Map();
    state.lastSeq = 0;
    state.answeredPrompts = new Set();
    closeFlowOverlay();
    closeSheet();
    hidePrompt();
    try {
      localStorage.setItem("phone.wa_id", state.username ? "" : waId);
      localStorage.setItem("phone.username", state.username);
      localStorage.setItem("phone.private_phone", state.username ? state.promptPhone : "");
      localStorage.setItem("phone.name", state.name);
    } catch (e) { /* private mode */ }
    var url = new URL(window.location.href);
    ["wa_id", "username", "phone"].forEach(function (key) { url.searchParams.delete(key); });
    if (state.username) {
      url.searchParams.set("username", state.username);
      if (state.promptPhone) url.searchParams.set("phone", state.promptPhone);
    } else {
      url.searchParams.set("wa_id", waId);
    }
    if (state.name) url.searchParams.set("name", state.name); else url.searchParams.delete("name");
    history.replaceState(null, "", url.toString());

    $("business-name").textContent = state.config.business_name || "Business";
    $("business-avatar").textContent = (state.config.business_name || "B").charAt(0).toUpperCase();
    $("chat-sub").textContent = "You: " + (state.name ? state.name + " · " : "") +
      (state.username ? "@" + state.username + " (number hidden)" : "+" + waId);
    var list = $("messages");
    list.textContent = "";
    list.appendChild(el("li", { className: "empty-chat", text: "Say hi to start the conversation." }));
    $("setup").hidden = true;
    $("chat").hidden = false;
    $("composer-text").focus();
    var gen = state.gen;
    longPoll(gen);
    refreshLoop(gen);
    promptLoop(gen);
  }

  function backToSetup() {
    state.gen += 1;
    closeFlowOverlay();
    closeSheet();
    hidePrompt();
    $("chat").hidden = true;
    $("setup").hidden = false;
    $("wa-id").value = state.username ? "" : (state.waId || "");
    $("username").value = state.username || "";
    $("private-phone").value = state.username ? state.promptPhone : "";
    $("identity-username").checked = Boolean(state.username);
    $("identity-phone").checked = !state.username;
    showIdentityFields();
    $("user-name").value = state.name || "";
    showKnownUsers();
    $("wa-id").focus();
  }

  // -- the conversation ---------------------------------------------------------------------------
  function merge(messages) {
    var changed = false;
    messages.forEach(function (message) {
      var old = state.messages.get(message.wamid);
      state.messages.set(message.wamid, message);
      if (message.seq > state.lastSeq) state.lastSeq = message.seq;
      if (!old || JSON.stringify(old) !== JSON.stringify(message)) {
        changed = true;
        renderMessage(message, !old);
      }
    });
    return changed;
  }

  function longPoll(gen) {
    if (gen !== state.gen) return;
    var path = userPath("/conversation?since=" + state.lastSeq + "&wait_for=1&timeout=" + LONG_POLL_SECONDS);
    api("GET", path, undefined, (LONG_POLL_SECONDS + 10) * 1000)
      .then(function (result) {
        if (gen !== state.gen) return;
        if (!result.ok) throw new Error(errorText(result));
        setConnection(true);
        merge(result.data.messages || []);
        longPoll(gen);
      })
      .catch(function () {
        if (gen !== state.gen) return;
        setConnection(false);
        sleep(1500).then(function () { longPoll(gen); });
      });
  }

  function settled(message) {
    if (message.status === "failed") return true;
    if (Date.now() / 1000 - message.timestamp > SETTLE_WINDOW_SECONDS) return true;
    if (message.direction === "out") return message.status === "read";
    return message.status === "delivered" && message.read_by_business;
  }

  // Statuses change without new messages: re-read from the oldest message still moving.
  function refreshLoop(gen) {
    if (gen !== state.gen) return;
    var oldest = null;
    state.messages.forEach(function (message) {
      if (!settled(message) && (oldest === null || message.seq < oldest)) oldest = message.seq;
    });
    var next = function () { sleep(REFRESH_MS).then(function () { refreshLoop(gen); }); };
    if (oldest === null) { next(); return; }
    api("GET", userPath("/conversation?since=" + (oldest - 1) + "&wait_for=0&timeout=0"))
      .then(function (result) {
        if (gen === state.gen && result.ok) merge(result.data.messages || []);
      })
      .catch(function () {})
      .finally(next);
  }

  function formatTime(timestamp) {
    var date = new Date(timestamp * 1000);
    return String(date.getHours()).padStart(2, "0") + ":" + String(date.getMinutes()).padStart(2, "0");
  }

  function ticksFor(message) {
    // The user's messages: queued = sent ✓, delivered = our webhook took it ✓✓, read_by_business = blue.
    // The business's messages: Meta's statuses (accepted, sent, delivered, read).
    var status = message.status;
    if (status === "failed") return { mark: "!", cls: "failed", label: "Not delivered" };
    if (message.direction === "in") {
      if (status === "delivered" && message.read_by_business) return { mark: "✓✓", cls: "read", label: "Read" };
      if (status === "delivered") return { mark: "✓✓", cls: "delivered", label: "Delivered" };
      return { mark: "✓", cls: "sent", label: "Sent" };
    }
    if (status === "read") return { mark: "✓✓", cls: "read", label: "Read" };
    if (status === "delivered") return { mark: "✓✓", cls: "delivered", label: "Delivered" };
    if (status === "sent") return { mark: "✓", cls: "sent", label: "Sent" };
    return { mark: "○", cls: "pending", label: "Pending" };
  }

  // WhatsApp's *bold*, _italic_, ~strike~ and ```mono``` on escaped text.
  function formatted(text) {
    var span = el("span", { className: "bubble-text" });
    var escaped = String(text || "")
      .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
    span.innerHTML = escaped
      .replace(/```([^`]+)```/g, "<code>$1</code>")
      .replace(/(^|[\s(])\*([^*\n]+)\*(?=$|[\s).,!?:;])/g, "$1<strong>$2</strong>")
      .replace(/(^|[\s(])_([^_\n]+)_(?=$|[\s).,!?:;])/g, "$1<em>$2</em>")
      .replace(/(^|[\s(])~([^~\n]+)~(?=$|[\s).,!?:;])/g, "$1<s>$2</s>");
    return span;
  }

  function bubbleText(message) {
    if (message.direction === "in" && message.media) {
      return ((message.payload || {})[message.type] || {}).caption || "";
    }
    if (message.direction === "in") {
      if (message.type === "interactive") {
        var reply = (message.payload || {}).interactive || {};
        if (reply.type === "nfm_reply") return "Form submitted";
        if (reply.type === "list_reply") return (reply.list_reply || {}).title || message.text;
      }
      if (message.text) return message.text;
      return "[" + message.type + "]";
    }
    if (message.type === "template") {
      var template = message.template || {};
      var params = [];
      (template.components || []).forEach(function (component) {
        (component.parameters || []).forEach(function (p) { if (p.text) params.push(p.text); });
      });
      return "Template “" + template.name + "”" + (params.length ? ": " + params.join(" · ") : "");
    }
    if (message.text) return message.text;
    var payload = message.payload || {};
    if (message.type === "image" || message.type === "document" || message.type === "video") {
      return "[" + message.type + "] " + (((payload[message.type] || {}).caption) || "");
    }
    return "[" + message.type + "]";
  }

  // Everything a bubble shows but its ticks: when only the ticks move, the bubble stays (a tap
  // on its buttons must never land on an element that was just replaced).
  function contentKey(message) {
    return JSON.stringify([message.payload, message.media, message.context_id, message.status === "failed" ? message.errors : null]);
  }

  function renderMessage(message, isNew) {
    var list = $("messages");
    var empty = list.querySelector(".empty-chat");
    if (empty) empty.remove();
    var existing = list.querySelector('[data-wamid="' + CSS.escape(message.wamid) + '"]');
    var key = contentKey(message);
    if (existing && existing.getAttribute("data-content-key") === key) {
      var current = ticksFor(message);
      var ticksNode = existing.querySelector(".ticks");
      existing.setAttribute("data-status", message.status);
      if (ticksNode) {
        ticksNode.className = "ticks " + current.cls;
        ticksNode.setAttribute("aria-label", current.label);
        ticksNode.title = current.label;
        ticksNode.textContent = current.mark;
      }
      return;
    }
    var fromMe = message.direction === "in";
    var item = el("li", {
      className: "msg " + (fromMe ? "from-me" : "from-them"),
      "data-wamid": message.wamid,
      "data-seq": String(message.seq),
      "data-status": message.status,
      "data-type": message.interactive_type || message.type,
      "data-content-key": key,
    });
    var bubble = el("div", { className: "bubble" });
    if (message.context_id && state.messages.has(message.context_id)) {
      var quoted = state.messages.get(message.context_id);
      bubble.appendChild(el("div", { className: "quote", text: bubbleText(quoted) }));
    }
    var interactive = !fromMe && message.type === "interactive" ? (message.interactive || {}) : null;
    if (interactive && interactive.header && interactive.header.type === "text") {
      bubble.appendChild(el("div", { className: "bubble-header", text: interactive.header.text }));
    }
    if (fromMe && message.media) bubble.appendChild(mediaPreview(message.media));
    var text = bubbleText(message);
    if (text || !(fromMe && message.media)) bubble.appendChild(formatted(text));
    if (interactive && interactive.footer && interactive.footer.text) {
      bubble.appendChild(el("div", { className: "bubble-footer", text: interactive.footer.text }));
    }
    var ticks = ticksFor(message);
    bubble.appendChild(el("span", { className: "meta" }, [
      el("time", { datetime: new Date(message.timestamp * 1000).toISOString(), text: formatTime(message.timestamp) }),
      el("span", { className: "ticks " + ticks.cls, "aria-label": ticks.label, title: ticks.label, text: ticks.mark }),
    ]));
    if (interactive) addInteractiveActions(message, interactive, bubble, item);
    item.insertBefore(bubble, item.firstChild);
    if (message.status === "failed" && message.errors && message.errors.length) {
      var err = message.errors[0];
      item.appendChild(el("div", {
        className: "msg-error",
        text: "Not delivered: " + (err.title || err.message || "") + (err.code ? " (" + err.code + ")" : ""),
      }));
    }
    if (existing) {
      existing.replaceWith(item);
    } else {
      // keep seq order (a refresh can bring a message that lost a race)
      var after = null;
      Array.prototype.forEach.call(list.querySelectorAll("li.msg"), function (node) {
        if (after === null && Number(node.getAttribute("data-seq")) > message.seq) after = node;
      });
      list.insertBefore(item, after);
      scrollToEnd(isNew);
    }
  }

  // What the user sent: the photo itself, or the document's name (from the emulator's store).
  function mediaPreview(media) {
    var box = el("div", { className: "bubble-media" });
    if (media.kind === "image") {
      box.appendChild(el("img", { src: "/_control/media/" + encodeURIComponent(media.id), alt: "Photo you sent" }));
    } else {
      box.appendChild(el("span", { className: "document" }, [
        el("span", { "aria-hidden": "true", text: "📄" }),
        el("span", { className: "document-name", text: media.filename || "Document" }),
      ]));
    }
    return box;
  }

  function addInteractiveActions(message, interactive, bubble, item) {
    var action = interactive.action || {};
    if (interactive.type === "button") {
      var buttons = el("div", { className: "actions", role: "group", "aria-label": "Reply buttons" });
      (action.buttons || []).forEach(function (button) {
        var reply = button.reply || {};
        buttons.appendChild(el("button", {
          type: "button",
          className: "action-button reply-button",
          "data-button-id": reply.id,
          text: reply.title,
          onclick: function () { tapButton(message, reply); },
        }));
      });
      item.appendChild(buttons);
    } else if (interactive.type === "list") {
      bubble.appendChild(el("button", {
        type: "button",
        className: "action-button list-button",
        "aria-haspopup": "dialog",
        onclick: function () { openSheet(message); },
      }, [el("span", { className: "icon", "aria-hidden": "true", text: "☰" }), action.button || "Choose"]));
    } else if (interactive.type === "flow") {
      var parameters = action.parameters || {};
      bubble.appendChild(el("button", {
        type: "button",
        className: "action-button flow-button",
        "aria-haspopup": "dialog",
        onclick: function () { openFlow(message); },
      }, [el("span", { className: "icon", "aria-hidden": "true", text: "▤" }), parameters.flow_cta || "Open"]));
    } else if (interactive.type === "cta_url") {
      // WhatsApp shows the label with a link icon, never the URL; a tap opens the browser.
      var cta = action.parameters || {};
      var safe = /^https?:\/\//i.test(cta.url || "");  // the emulator refused anything else
      bubble.appendChild(el("a", {
        className: "action-button cta-url-button",
        href: safe ? cta.url : null,
        target: "_blank",
        rel: "noopener noreferrer",
        "data-url": cta.url,
        title: cta.url,
      }, [linkIcon(), cta.display_text || "Open"]));
    }
  }

  function linkIcon() {
    // WhatsApp's "open link" glyph: a box with an arrow leaving it.
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("class", "icon link-icon");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "16");
    svg.setAttribute("height", "16");
    svg.setAttribute("aria-hidden", "true");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("fill", "currentColor");
    path.setAttribute(
      "d",
      "M14 3h7v7h-2V6.41l-9.29 9.3-1.42-1.42 9.3-9.29H14V3zM5 5h6v2H5v12h12v-6h2v6a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V7a2 2 0 0 1 2-2z"
    );
    svg.appendChild(path);
    return svg;
  }

  function scrollToEnd(force) {
    var list = $("messages");
    var nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 160;
    if (force || nearBottom) list.scrollTop = list.scrollHeight;
  }

  // -- writing -------------------------------------------------------------------------------------
  function afterSend(result, what) {
    if (!result.ok) {
      systemNote("Could not " + what + ": " + errorText(result), true);
      return;
    }
    if (result.data.message) merge([result.data.message]);
  }

  function onComposerSubmit(event) {
    event.preventDefault();
    var input = $("composer-text");
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    var body = { type: "text", text: text };
    if (state.name) body.name = state.name;
    api("POST", userPath("/send"), body)
      .then(function (result) { afterSend(result, "send"); })
      .catch(function (e) { systemNote("Could not send: " + e, true); });
    input.focus();
  }

  // A photo (JPEG/PNG) or a PDF from this device, as the user's WhatsApp sends it.
  function onAttachChosen() {
    var input = $("attach-file");
    var file = input.files && input.files[0];
    input.value = "";
    if (!file) return;
    var kind = /^image\/(jpeg|png)$/.test(file.type) ? "image" : file.type === "application/pdf" ? "document" : null;
    if (!kind) {
      systemNote("Only photos (JPEG, PNG) and PDFs can be sent here.", true);
      return;
    }
    var reader = new FileReader();
    reader.onload = function () {
      var data = String(reader.result).split(",")[1] || "";
      var body = { type: kind, data: data, mime_type: file.type };
      if (kind === "document") body.filename = file.name;
      if (state.name) body.name = state.name;
      api("POST", userPath("/send"), body, 30000)
        .then(function (result) { afterSend(result, "send the " + (kind === "image" ? "photo" : "document")); })
        .catch(function (e) { systemNote("Could not send: " + e, true); });
    };
    reader.onerror = function () { systemNote("Could not read the file.", true); };
    reader.readAsDataURL(file);
  }

  function tapButton(message, reply) {
    api("POST", userPath("/tap"), { wamid: message.wamid, button_id: reply.id })
      .then(function (result) { afterSend(result, "tap “" + reply.title + "”"); })
      .catch(function (e) { systemNote("Could not tap: " + e, true); });
  }

  // -- list sheet ------------------------------------------------------------------------------------
  var sheetOpener = null;
  function openSheet(message) {
    var interactive = message.interactive || {};
    var action = interactive.action || {};
    sheetOpener = document.activeElement;
    $("sheet-title").textContent = action.button || "Choose";
    var body = $("sheet-body");
    body.textContent = "";
    (action.sections || []).forEach(function (section, index) {
      var titleId = "sheet-section-" + index;
      if (section.title) body.appendChild(el("h3", { className: "sheet-section-title", id: titleId, text: section.title }));
      var rows = el("ul", { className: "sheet-rows", "aria-labelledby": section.title ? titleId : null });
      (section.rows || []).forEach(function (row) {
        rows.appendChild(el("li", null, [
          el("button", {
            type: "button",
            className: "sheet-row",
            "data-row-id": row.id,
            onclick: function () { pickRow(message, row); },
          }, [
            el("span", { className: "row-title", text: row.title }),
            row.description ? el("span", { className: "row-description", text: row.description }) : null,
          ]),
        ]));
      });
      body.appendChild(rows);
    });
    $("sheet-backdrop").hidden = false;
    $("sheet").hidden = false;
    var first = body.querySelector("button");
    (first || $("sheet-close")).focus();
  }

  function closeSheet() {
    $("sheet").hidden = true;
    $("sheet-backdrop").hidden = true;
    if (sheetOpener && document.body.contains(sheetOpener)) sheetOpener.focus();
    sheetOpener = null;
  }

  function pickRow(message, row) {
    closeSheet();
    api("POST", userPath("/tap"), { wamid: message.wamid, row_id: row.id })
      .then(function (result) { afterSend(result, "choose “" + row.title + "”"); })
      .catch(function (e) { systemNote("Could not choose: " + e, true); });
  }

  // -- flows -----------------------------------------------------------------------------------------
  function lookup(path, root) {
    var value = root;
    for (var i = 0; i < path.length; i++) {
      if (value === null || value === undefined) return undefined;
      value = value[path[i]];
    }
    return value;
  }

  function evaluate(expression, data, form) {
    var parts = expression.trim().split(".");
    if (parts[0] === "data") return lookup(parts.slice(1), data);
    if (parts[0] === "form") return lookup(parts.slice(1), form);
    return undefined;
  }

  // `${data.x}` / `${form.x}` as the client resolves them (a whole expression keeps its type).
  function resolve(value, data, form) {
    if (typeof value !== "string" || value.indexOf("${") < 0) return value;
    var whole = /^\$\{([^}]+)\}$/.exec(value);
    if (whole) return evaluate(whole[1], data, form || {});
    return value.replace(/\$\{([^}]+)\}/g, function (_, expr) {
      var result = evaluate(expr, data, form || {});
      return result === undefined || result === null ? "" : String(result);
    });
  }

  function truthy(value) {
    if (typeof value === "string") return ["", "false", "0"].indexOf(value.toLowerCase()) < 0;
    return Boolean(value);
  }

  function openFlow(message) {
    toast("Opening form…");
    api("POST", userPath("/flows/open"), { wamid: message.wamid }, 20000)
      .then(function (result) {
        if (!result.ok) {
          systemNote("Could not open the form: " + errorText(result), true);
          return;
        }
        showSession(result.data);
      })
      .catch(function (e) { systemNote("Could not open the form: " + e, true); });
  }

  var flowOpener = null;
  // `keep`: the values the user typed, shown again when the phone refused the form (422).
  function showSession(session, fieldErrors, keep) {
    if (session.status === "completed") {
      closeFlowOverlay();
      toast("Form sent");
      return;
    }
    if (session.status === "closed") {
      closeFlowOverlay();
      return;
    }
    $("toast").hidden = true;
    var wasHidden = $("flow").hidden;
    if (wasHidden) flowOpener = document.activeElement;
    state.flow = session;
    $("flow").hidden = false;
    var banner = $("flow-banner");
    var form = $("flow-form");
    form.textContent = "";
    if (session.status === "error" || !session.layout) {
      // 427 (flow token invalid), an unknown screen, an endpoint that never answered...
      $("flow-title").textContent = session.title || "Form";
      banner.hidden = true;
      form.appendChild(el("div", { className: "flow-ended", role: "alert" }, [
        el("h3", { text: "This form can't continue" }),
        el("p", { text: (session.error && session.error.message) || "The business closed this form." }),
      ]));
      systemNote("Form error: " + ((session.error && session.error.message) || session.status), true);
      $("flow-submit").textContent = "Close";
      $("flow-submit").setAttribute("data-mode", "close");
      $("flow-back").hidden = true;
      $("flow-screen-id").textContent = "";
      $("flow-submit").focus();
      return;
    }
    $("flow-title").textContent = session.title || "Form";
    var footer = renderLayout(session, form, fieldErrors || {}, keep || null);
    // error_message from the endpoint: a banner, unless the screen itself already shows it.
    var problems = [];
    var errorMessage = session.error_message ? String(session.error_message) : "";
    if (errorMessage && truthy(errorMessage) && form.textContent.indexOf(errorMessage) < 0) {
      problems.push(errorMessage);
    }
    if (session.error && session.error.message) problems.push(session.error.message);
    banner.textContent = problems.join(" · ");
    banner.hidden = problems.length === 0;
    var shownError = Array.prototype.find.call(form.querySelectorAll("p.bold"), function (node) {
      return errorMessage && node.textContent === errorMessage;
    });
    if (shownError) shownError.classList.add("screen-error");
    var submit = $("flow-submit");
    submit.textContent = footer ? resolve(footer.label, session.data || {}) || "Continue" : "Close";
    submit.setAttribute("data-mode", footer ? "submit" : "close");
    submit.disabled = false;
    $("flow-back").hidden = !(session.history && session.history.length);
    $("flow-screen-id").textContent = "Screen " + session.screen;
    var firstInvalid = form.querySelector("[aria-invalid='true']");
    if (firstInvalid) firstInvalid.focus();
    else if (wasHidden) $("flow-close").focus();
  }

  function renderLayout(session, form, fieldErrors, keep) {
    var data = session.data || {};
    var footer = null;
    var counter = 0;

    function field(component, control, id) {
      var wrap = el("div", { className: "field" + (fieldErrors[component.name] ? " invalid" : "") });
      var label = resolve(component.label, data) || component.name;
      var required = truthy(resolve(component.required, data));
      wrap.appendChild(el("label", { for: id, text: label + (required ? " *" : "") }));
      wrap.appendChild(control);
      addHelpAndError(wrap, component, control, id);
      return wrap;
    }

    function addHelpAndError(wrap, component, control, id) {
      var described = [];
      var helper = resolve(component["helper-text"] || component.description, data);
      if (helper) {
        wrap.appendChild(el("span", { className: "helper", id: id + "-help", text: helper }));
        described.push(id + "-help");
      }
      if (fieldErrors[component.name]) {
        wrap.appendChild(el("span", { className: "field-error", id: id + "-error", text: fieldErrors[component.name] }));
        described.push(id + "-error");
        if (control) control.setAttribute("aria-invalid", "true");
      }
      if (control && described.length) control.setAttribute("aria-describedby", described.join(" "));
    }

    function options(component) {
      var source = resolve(component["data-source"], data);
      return Array.isArray(source) ? source : [];
    }

    function walk(children) {
      if (!Array.isArray(children)) children = children ? [children] : [];
      children.forEach(function (component) {
        if (!component || typeof component !== "object") return;
        if ("visible" in component && !truthy(resolve(component.visible, data))) return;
        var type = component.type;
        var id = "flow-field-" + (counter++);
        var init = keep && component.name && Object.prototype.hasOwnProperty.call(keep, component.name)
          ? keep[component.name]
          : resolve(component["init-value"], data);
        switch (type) {
          case "Form":
            walk(component.children);
            break;
          case "If":
            walk(truthy(resolve(component.condition, data)) ? component.then : component.else);
            break;
          case "TextHeading":
            form.appendChild(el("h3", { text: resolve(component.text, data) }));
            break;
          case "TextSubheading":
            form.appendChild(el("h4", { text: resolve(component.text, data) }));
            break;
          case "TextBody":
          case "RichText":
            var text = resolve(component.text, data);
            form.appendChild(el("p", {
              className: component["font-weight"] === "bold" ? "bold" : null,
              text: Array.isArray(text) ? text.join("\n") : text,
            }));
            break;
          case "TextCaption":
            form.appendChild(el("p", { className: "caption", text: resolve(component.text, data) }));
            break;
          case "TextInput":
          case "TextArea":
            var inputType = component["input-type"] || "text";
            var htmlType = { email: "email", phone: "tel", number: "number", password: "password", passcode: "password" }[inputType] || "text";
            var input = type === "TextArea"
              ? el("textarea", { id: id, name: component.name, rows: "3" })
              : el("input", { id: id, name: component.name, type: htmlType, inputmode: inputType === "number" || inputType === "passcode" ? "numeric" : null });
            var maxChars = resolve(component["max-chars"], data);
            if (maxChars && /^\d+$/.test(String(maxChars))) input.setAttribute("maxlength", String(maxChars));
            if (truthy(resolve(component.required, data))) input.setAttribute("aria-required", "true");
            input.setAttribute("data-kind", "text");
            if (init !== undefined && init !== null) input.value = String(init);
            form.appendChild(field(component, input, id));
            break;
          case "Dropdown":
            var select = el("select", { id: id, name: component.name, "data-kind": "select" }, [
              el("option", { value: "", text: "Select…" }),
            ]);
            options(component).forEach(function (option) {
              select.appendChild(el("option", { value: String(option.id), text: option.title + (option.description ? " — " + option.description : "") }));
            });
            if (init !== undefined && init !== null) select.value = String(init);
            form.appendChild(field(component, select, id));
            break;
          case "RadioButtonsGroup":
          case "CheckboxGroup":
          case "ChipsSelector":
            var multiple = type !== "RadioButtonsGroup";
            var required = truthy(resolve(component.required, data));
            var set = el("fieldset", {
              className: "field" + (fieldErrors[component.name] ? " invalid" : ""),
              "data-name": component.name,
              "data-kind": multiple ? "checkboxes" : "radios",
              "aria-required": required ? "true" : null,
            }, [el("legend", { text: (resolve(component.label, data) || component.name) + (required ? " *" : "") })]);
            var chosen = Array.isArray(init) ? init.map(String) : init !== undefined && init !== null ? [String(init)] : [];
            options(component).forEach(function (option, index) {
              var optionId = id + "-" + index;
              var box = el("input", {
                type: multiple ? "checkbox" : "radio",
                id: optionId,
                name: component.name,
                value: String(option.id),
                disabled: option.enabled === false,
              });
              box.checked = chosen.indexOf(String(option.id)) >= 0;
              set.appendChild(el("label", { className: "choice", for: optionId }, [
                box,
                el("span", null, [option.title, option.description ? el("small", { text: option.description }) : null]),
              ]));
            });
            addHelpAndError(set, component, null, id);
            if (fieldErrors[component.name]) set.setAttribute("aria-invalid", "true");
            form.appendChild(set);
            break;
          case "OptIn":
            var opt = el("input", { type: "checkbox", id: id, name: component.name, "data-kind": "optin" });
            opt.checked = truthy(init);
            var wrapOpt = el("div", { className: "field" + (fieldErrors[component.name] ? " invalid" : "") }, [
              el("label", { className: "choice", for: id }, [opt, el("span", { text: resolve(component.label, data) })]),
            ]);
            addHelpAndError(wrapOpt, component, opt, id);
            form.appendChild(wrapOpt);
            break;
          case "DatePicker":
          case "CalendarPicker":
            var date = el("input", { type: "date", id: id, name: component.name, "data-kind": "text" });
            if (init) date.value = String(init);
            form.appendChild(field(component, date, id));
            break;
          case "Footer":
            footer = component;
            break;
          default:
            form.appendChild(el("p", { className: "unsupported", text: "[" + type + " is not shown by this phone]" }));
        }
      });
    }

    walk((session.layout || {}).children);
    return footer;
  }

  function collectForm() {
    var form = $("flow-form");
    var values = {};
    form.querySelectorAll("[data-kind='text'], [data-kind='select']").forEach(function (input) {
      values[input.name] = input.value;
    });
    form.querySelectorAll("[data-kind='optin']").forEach(function (input) {
      values[input.name] = input.checked;
    });
    form.querySelectorAll("fieldset[data-kind]").forEach(function (set) {
      var name = set.getAttribute("data-name");
      var checked = Array.prototype.map.call(set.querySelectorAll("input:checked"), function (box) { return box.value; });
      if (set.getAttribute("data-kind") === "radios") {
        if (checked.length) values[name] = checked[0];
      } else {
        values[name] = checked;
      }
    });
    return values;
  }

  function submitFlow() {
    var session = state.flow;
    var button = $("flow-submit");
    if (!session || button.getAttribute("data-mode") === "close") {
      closeFlow();
      return;
    }
    button.disabled = true;
    button.textContent = "…";
    var values = collectForm();
    api("POST", "/_control/flow-sessions/" + encodeURIComponent(session.session) + "/submit", { form: values }, 30000)
      .then(function (result) {
        var data = result.data || {};
        if (result.status === 422 && data.session) {
          showSession(data, data.field_errors || {}, values);
          return;
        }
        if (!result.ok && !data.session) {
          button.disabled = false;
          var banner = $("flow-banner");
          banner.textContent = errorText(result);
          banner.hidden = false;
          button.textContent = "Retry";
          return;
        }
        if (!result.ok && data.message) {
          data.error = data.error || { kind: data.kind, message: data.message };
        }
        // The endpoint failed and the phone stays on this screen: keep what the user typed.
        var stayed = data.status === "open" && data.screen === session.screen && data.error;
        showSession(data, {}, stayed ? values : null);
      })
      .catch(function (e) {
        button.disabled = false;
        button.textContent = "Retry";
        var banner = $("flow-banner");
        banner.textContent = "Could not reach the emulator: " + e;
        banner.hidden = false;
      });
  }

  function flowBack() {
    var session = state.flow;
    if (!session) return;
    api("POST", "/_control/flow-sessions/" + encodeURIComponent(session.session) + "/back", {}, 30000)
      .then(function (result) { if (result.data && result.data.session) showSession(result.data); })
      .catch(function () {});
  }

  function closeFlow() {
    var session = state.flow;
    closeFlowOverlay();
    if (session && session.status === "open") {
      api("POST", "/_control/flow-sessions/" + encodeURIComponent(session.session) + "/close", {}).catch(function () {});
    }
  }

  function closeFlowOverlay() {
    state.flow = null;
    $("flow").hidden = true;
    $("flow-form").textContent = "";
    if (flowOpener && document.body.contains(flowOpener)) flowOpener.focus();
    flowOpener = null;
  }

  // -- Paynow prompts ----------------------------------------------------------------------------
  function promptLoop(gen) {
    if (gen !== state.gen) return;
    var next = function () { sleep(PROMPT_POLL_MS).then(function () { promptLoop(gen); }); };
    if (!state.config.paynow) {
      // Maybe it gets configured later (POST /_control/phone/config).
      sleep(5000).then(function () { loadConfig().then(function () { promptLoop(gen); }); });
      return;
    }
    if (!state.promptPhone) { next(); return; } // a username user who gave no number
    api("GET", "/_control/paynow/prompts?phone=" + encodeURIComponent(state.promptPhone), undefined, 8000)
      .then(function (result) {
        if (gen !== state.gen || !result.ok) return;
        var prompts = (result.data.prompts || []).filter(function (p) {
          return !state.answeredPrompts.has(p.paynowreference);
        });
        var current = state.prompt;
        if (current && !prompts.some(function (p) { return p.paynowreference === current.paynowreference; })) {
          hidePrompt(); // settled elsewhere (timed out, approved by another phone...)
          toast("The payment request is no longer pending");
        }
        if (!state.prompt && prompts.length) showPrompt(prompts[0]);
      })
      .catch(function () {})
      .finally(next);
  }

  function showPrompt(prompt) {
    state.prompt = prompt;
    var method = METHOD_NAMES[prompt.method] || prompt.method || "Mobile money";
    var merchant = state.config.business_name || "the merchant";
    $("prompt-title").textContent = method + " payment request";
    $("prompt-text").textContent = method + ": Pay " + (state.config.currency || "USD") + " " + prompt.amount +
      " to " + merchant + "? Enter PIN";
    var detail = "Ref " + prompt.reference + " · Paynow " + prompt.paynowreference;
    if (prompt.authorizationcode) detail += " · Code " + prompt.authorizationcode;
    $("prompt-detail").textContent = detail;
    $("prompt-pin").value = "";
    $("prompt-error").hidden = true;
    $("prompt-approve").disabled = false;
    $("prompt-decline").disabled = false;
    $("prompt-backdrop").hidden = false;
    $("paynow-prompt").hidden = false;
    $("prompt-pin").focus();
  }

  function hidePrompt() {
    state.prompt = null;
    $("paynow-prompt").hidden = true;
    $("prompt-backdrop").hidden = true;
  }

  function answerPrompt(action) {
    var prompt = state.prompt;
    if (!prompt) return;
    var pin = $("prompt-pin").value.trim();
    var error = $("prompt-error");
    if (action === "approve" && !/^\d{4}$/.test(pin)) {
      error.textContent = "Enter your 4-digit PIN.";
      error.hidden = false;
      $("prompt-pin").setAttribute("aria-invalid", "true");
      $("prompt-pin").focus();
      return;
    }
    $("prompt-pin").removeAttribute("aria-invalid");
    $("prompt-approve").disabled = true;
    $("prompt-decline").disabled = true;
    var path = "/_control/paynow/prompts/" + encodeURIComponent(prompt.paynowreference) + "/" + action;
    api("POST", path, action === "approve" ? { pin: pin } : {})
      .then(function (result) {
        state.answeredPrompts.add(prompt.paynowreference);
        hidePrompt();
        if (result.ok) {
          toast(action === "approve" ? "Payment approved" : "Payment declined");
        } else {
          toast("Paynow: " + errorText(result));
        }
        $("composer-text").focus();
      })
      .catch(function (e) {
        $("prompt-approve").disabled = false;
        $("prompt-decline").disabled = false;
        error.textContent = "Could not reach Paynow: " + e;
        error.hidden = false;
      });
  }

  // -- wiring ------------------------------------------------------------------------------------
  function init() {
    $("setup-form").addEventListener("submit", onSetupSubmit);
    $("identity-phone").addEventListener("change", showIdentityFields);
    $("identity-username").addEventListener("change", showIdentityFields);
    $("attach-button").addEventListener("click", function () { $("attach-file").click(); });
    $("attach-file").addEventListener("change", onAttachChosen);
    $("composer").addEventListener("submit", onComposerSubmit);
    $("change-phone").addEventListener("click", backToSetup);
    $("sheet-close").addEventListener("click", closeSheet);
    $("sheet-backdrop").addEventListener("click", closeSheet);
    $("flow-submit").addEventListener("click", submitFlow);
    $("flow-form").addEventListener("submit", function (event) { event.preventDefault(); submitFlow(); });
    $("flow-close").addEventListener("click", closeFlow);
    $("flow-back").addEventListener("click", flowBack);
    $("prompt-form").addEventListener("submit", function (event) { event.preventDefault(); answerPrompt("approve"); });
    $("prompt-decline").addEventListener("click", function () { answerPrompt("decline"); });
    $("prompt-pin").addEventListener("input", function () {
      $("prompt-error").hidden = true;
      $("prompt-pin").removeAttribute("aria-invalid");
    });
    document.addEventListener("keydown", function (event) {
      if (event.key !== "Escape") return;
      if (!$("sheet").hidden) closeSheet();
      else if (!$("flow").hidden) closeFlow();
    });

    var params = new URLSearchParams(window.location.search);
    var stored = {};
    try {
      stored.waId = localStorage.getItem("phone.wa_id");
      stored.name = localStorage.getItem("phone.name");
      stored.username = localStorage.getItem("phone.username");
      stored.privatePhone = localStorage.getItem("phone.private_phone");
    } catch (e) { /* private mode */ }
    $("wa-id").value = params.get("wa_id") || stored.waId || "";
    $("user-name").value = params.get("name") || stored.name || "";
    $("username").value = params.get("username") || stored.username || "";
    $("private-phone").value = params.get("phone") || stored.privatePhone || "";
    $("identity-username").checked = Boolean(params.get("username") || (!params.get("wa_id") && stored.username));
    $("identity-phone").checked = !$("identity-username").checked;
    showIdentityFields();
    loadConfig().then(function () {
      document.title = (state.config.business_name || "Phone") + " · WhatsApp emulator";
      if (params.get("username") && /^[A-Za-z0-9._]{3,30}$/.test(params.get("username"))) {
        openUsernameChat(params.get("username"), params.get("name") || "", params.get("phone") || "");
      } else if (params.get("wa_id") && /^\d{6,15}$/.test(params.get("wa_id"))) {
        openChat(params.get("wa_id"), params.get("name") || "");
      } else {
        showKnownUsers();
        $("wa-id").focus();
      }
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
