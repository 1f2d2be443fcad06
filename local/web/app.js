// A small chat client for the local server, on the TypeScript SDK
// (clients/typescript, bundled into /chat.js at its build; no CDN): typed
// REST, a socket that reconnects and catches up on what it missed, sends
// that survive a reconnect. This file is the page: rendering and input.
import { ChatClient } from "/chat.js";

const API = "/api/v1";
const PAGE = 25;
const REACTIONS = ["👍", "❤️", "😂", "🎉"];
const $ = (id) => document.getElementById(id);

// A link from another user goes into href or src only as https (or http to
// this machine, the local stack): never javascript:, data: or file:.
function safeUrl(raw) {
  if (typeof raw !== "string" || raw.trim() !== raw) return null;
  try {
    const url = new URL(raw);
    if (url.protocol === "https:") return url.href;
    const local = ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname);
    if (url.protocol === "http:" && local) return url.href;
  } catch {
    // not an absolute URL
  }
  return null;
}

const state = {
  session: null, // { api_key, token, ws_url, user_id }
  client: null, // the SDK's ChatClient
  channels: new Map(), // id -> list entry ({channel, members, membership, unread_count})
  current: null, // channel id
  messages: new Map(), // id -> message (current channel, top level)
  order: [], // ids of the current channel, oldest first
  exhausted: false,
  loadingOlder: false,
  own: new Map(), // message id -> Set of my reaction types
  users: new Map(), // user id -> {display_name, online}
  typing: new Map(), // `${channel}|${parent}` -> Map(user -> timeout)
  thread: null, // parent message id
  replies: [],
  seenReplies: new Set(),
  typingSent: 0,
  typingStop: null,
  requestId: 0,
  // The furthest others' marks reach in the current channel (a message's
  // created_at): ✓ delivered, ✓✓ read, on my own messages.
  delivered: "",
  read: "",
};

// ---------- REST ----------

// Any REST call through the SDK (a refused token is replaced once).
function api(method, path, body) {
  return state.client.rest.request(method, path, { body });
}

// A fresh token for the signed-in sample user (the dev session mints them).
async function freshToken(user) {
  const response = await fetch("/dev/session");
  const dev = await response.json();
  const found = dev.users.find((u) => u.id === user);
  return found ? found.token : state.session.token;
}

function showError(err) {
  $("error").textContent = err ? String(err.message || err) : "";
  if (err) setTimeout(() => ($("error").textContent = ""), 6000);
}

// ---------- session ----------

function userIdOf(token) {
  try {
    const payload = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    return payload.user_id || null;
  } catch {
    return null;
  }
}

/** What the local FCM and APNs received, refreshed while signed out. */
async function showPushes() {
  if ($("login").hidden) return;
  try {
    const response = await fetch("/dev/pushes");
    if (response.ok) {
      const { pushes } = await response.json();
      const list = $("push-list");
      list.textContent = "";
      for (const push of pushes.slice(0, 20)) {
        const item = document.createElement("li");
        item.className = "push";
        const head = document.createElement("strong");
        head.textContent = push.title || "(no title)";
        const body = document.createElement("span");
        body.textContent = ` ${push.body || ""}`;
        const meta = document.createElement("small");
        meta.textContent = ` · ${push.provider} → ${push.device_token} · badge ${push.badge ?? "-"}`;
        item.append(head, body, meta);
        list.append(item);
      }
      if (!pushes.length) list.textContent = "(none yet)";
    }
  } catch {
    // The panel is a convenience; the sign-in page works without it.
  }
  setTimeout(showPushes, 2000);
}

async function showLogin() {
  $("chat").hidden = true;
  $("login").hidden = false;
  showPushes();
  const list = $("sample-users");
  list.textContent = "";
  try {
    const response = await fetch("/dev/session");
    if (!response.ok) throw new Error("no dev application on this server");
    const dev = await response.json();
    $("token-form").ws_url.value = dev.ws_url;
    for (const user of dev.users) {
      const button = document.createElement("button");
      button.textContent = `Sign in as ${user.display_name || user.id}`;
      button.dataset.user = user.id;
      button.onclick = () =>
        start({ api_key: dev.api_key, token: user.token, ws_url: dev.ws_url, user_id: user.id });
      list.append(button);
    }
  } catch (err) {
    list.textContent = `(${err.message}: paste a key and token below)`;
  }
}

$("token-form").onsubmit = (event) => {
  event.preventDefault();
  const form = event.target;
  const token = form.token.value.trim();
  const user_id = userIdOf(token);
  if (!user_id) {
    $("login-error").textContent = "that is not a user token";
    return;
  }
  start({
    api_key: form.api_key.value.trim(),
    token,
    ws_url: form.ws_url.value.trim() || `ws://${location.hostname}:3001`,
    user_id,
  });
};

$("sign-out").onclick = () => {
  sessionStorage.removeItem("chat-session");
  if (state.client) state.client.disconnect();
  location.reload();
};

async function start(session) {
  state.session = session;
  const client = new ChatClient({
    url: location.origin + API,
    wsUrl: session.ws_url,
    apiKey: session.api_key,
    userId: session.user_id,
    token: (refresh) => (refresh ? freshToken(session.user_id) : session.token),
  });
  state.client = client;
  client.onevent = onEvent;
  client.onstatus = (status) =>
    status === "open" ? setStatus("online", "connected") : setStatus("reconnecting", "reconnecting…");
  // Away too long to replay: the SDK reloaded the channel list.
  client.onreload = () => resync();
  try {
    const me = await api("GET", `/users/${encodeURIComponent(session.user_id)}`);
    state.users.set(me.user.id, me.user);
    $("me").textContent = me.user.display_name || me.user.id;
  } catch (err) {
    $("login-error").textContent = `sign-in failed: ${err.message}`;
    return;
  }
  sessionStorage.setItem("chat-session", JSON.stringify(session));
  $("login").hidden = true;
  $("chat").hidden = false;
  await client.connect();
  await loadChannels();
  client.state.subscribe(renderScheduled);
  await client.loadScheduled().catch(() => {});
  await refreshThreads();
}

// ---------- WebSocket ----------

function setStatus(kind, text) {
  $("status").dataset.state = kind;
  $("status").textContent = text;
}

function sendFrame(frame) {
  if (!state.client.socket.open) return;
  state.client.socket
    .request(frame)
    .then((ack) => {
      if (!ack.ok) showError(ack.error.message);
    })
    .catch(() => {});
}

// Reload what is shown (the catch-up could not replay everything).
async function resync() {
  await loadChannels();
  await refreshThreads();
  if (state.current) openChannel(state.current);
  if (state.thread) openThread(state.thread);
}

// Every event, live or replayed after a reconnect (the SDK drops repeats).
function onEvent(event) {
  const channel = event.channel_id;
  switch (event.type) {
    case "message.new": {
      const m = event.message;
      if (m.parent_id) {
        noteReply(m);
        if (!m.show_in_channel) break;
      }
      if (channel === state.current) {
        upsertMessage(m, true);
        if (document.visibilityState === "visible") markRead();
      } else if (m.user.id !== state.session.user_id) {
        bumpUnread(channel, 1);
      }
      touchChannel(channel, event.created_at);
      break;
    }
    case "message.updated":
    case "message.deleted": {
      const m = event.message;
      if (event.hard) {
        removeMessage(m.id);
      } else if (state.messages.has(m.id)) {
        upsertMessage(m, false);
      }
      if (state.thread) {
        const i = state.replies.findIndex((r) => r.id === m.id);
        if (i >= 0) {
          state.replies[i] = { ...state.replies[i], ...m };
          renderReplies();
        }
      }
      break;
    }
    case "reaction.new":
    case "reaction.deleted": {
      const m = state.messages.get(event.message_id) || state.replies.find((r) => r.id === event.message_id);
      if (!m) break;
      m.reaction_counts = event.reaction_counts;
      if (event.reaction.user_id === state.session.user_id) {
        const mine = ownSet(m.id);
        if (event.type === "reaction.new") mine.add(event.reaction.type);
        else mine.delete(event.reaction.type);
      }
      rerender(m);
      break;
    }
    case "message.delivered":
    case "message.read": {
      const id = event.last_delivered_message_id ?? event.last_read_message_id;
      const m = id && state.messages.get(id);
      if (channel !== state.current || event.user.id === state.session.user_id || !m) break;
      const key = event.type === "message.read" ? "read" : "delivered";
      if (m.created_at > state[key]) {
        state[key] = m.created_at;
        renderTicks();
      }
      break;
    }
    case "typing.start":
    case "typing.stop":
      onTyping(event);
      break;
    case "poll.vote_cast":
    case "poll.vote_removed":
    case "poll.updated":
    case "poll.closed": {
      // The SDK's state has the poll's new counts: redraw its message.
      const m = state.messages.get(event.poll.message_id);
      if (m) rerender(m);
      break;
    }
    case "user.presence.changed": {
      const u = state.users.get(event.user.id) || { id: event.user.id };
      u.online = event.user.online;
      state.users.set(u.id, u);
      renderPresence();
      break;
    }
    case "notification.added_to_channel":
    case "member.added":
    case "member.removed":
    case "channel.updated":
    case "channel.deleted":
    case "channel.truncated":
      loadChannels().then(() => {
        if (event.type === "channel.truncated" && channel === state.current) openChannel(channel);
      });
      break;
    default:
      break;
  }
}

// ---------- channels ----------

async function loadChannels() {
  const data = await api("GET", "/channels?limit=100");
  state.channels = new Map(data.channels.map((entry) => [entry.channel.id, entry]));
  renderChannels();
  if (state.current && !state.channels.has(state.current)) {
    state.current = null;
    $("composer").hidden = true;
  }
}

function channelTitle(entry) {
  if (entry.channel.name) return entry.channel.name;
  const others = entry.members.map((m) => m.user_id).filter((id) => id !== state.session.user_id);
  return others.join(", ") || entry.channel.id;
}

function renderChannels() {
  const list = $("channels");
  list.textContent = "";
  const entries = [...state.channels.values()].sort((a, b) =>
    (b.channel.last_message_at || b.channel.created_at).localeCompare(a.channel.last_message_at || a.channel.created_at),
  );
  for (const entry of entries) {
    const li = document.createElement("li");
    li.dataset.channel = entry.channel.id;
    li.classList.toggle("active", entry.channel.id === state.current);
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = channelTitle(entry);
    li.append(name);
    if (entry.unread_count > 0 && entry.channel.id !== state.current) {
      const badge = document.createElement("span");
      badge.className = "unread";
      badge.textContent = entry.unread_count >= 100 ? "99+" : String(entry.unread_count);
      li.append(badge);
    }
    const threads = unreadThreadsIn(entry);
    if (threads > 0) {
      const badge = document.createElement("span");
      badge.className = "unread-threads";
      badge.title = "threads with unread replies";
      badge.textContent = `🧵${threads}`;
      li.append(badge);
    }
    li.onclick = () => openChannel(entry.channel.id);
    list.append(li);
  }
}

function bumpUnread(channel, n) {
  const entry = state.channels.get(channel);
  if (!entry) {
    loadChannels();
    return;
  }
  entry.unread_count = (entry.unread_count || 0) + n;
  renderChannels();
}

function touchChannel(channel, at) {
  const entry = state.channels.get(channel);
  if (entry && at) {
    entry.channel.last_message_at = at;
    renderChannels();
  }
}

$("new-channel").onsubmit = async (event) => {
  event.preventDefault();
  const form = event.target;
  const members = form.members.value.split(",").map((s) => s.trim()).filter(Boolean);
  try {
    const created = await api("POST", "/channels", { type: "group", name: form.name.value.trim(), members });
    form.reset();
    await loadChannels();
    openChannel(created.channel.id);
  } catch (err) {
    showError(err);
  }
};

async function openChannel(id) {
  state.current = id;
  state.messages = new Map();
  state.order = [];
  state.exhausted = false;
  state.delivered = "";
  state.read = "";
  closeThread();
  const entry = state.channels.get(id);
  $("channel-name").textContent = entry ? channelTitle(entry) : id;
  $("composer").hidden = false;
  $("messages").textContent = "";
  renderScheduled();
  renderTyping();
  const page = await api("GET", `/channels/${id}/messages?limit=${PAGE}`);
  if (state.current !== id) return;
  state.exhausted = page.messages.length < PAGE;
  for (const m of page.messages) upsertMessage(m, true);
  scrollToBottom();
  if (entry) {
    entry.unread_count = 0;
    renderChannels();
    loadPresence(entry);
  }
  markRead();
  loadTicks(id).catch(() => {});
  $("text").focus();
}

function markRead() {
  if (!state.current) return;
  api("POST", `/channels/${state.current}/read`, {}).catch(() => {});
}

async function loadPresence(entry) {
  const ids = entry.members.map((m) => m.user_id);
  if (ids.length) {
    const data = await api("GET", `/users?ids=${ids.map(encodeURIComponent).join(",")}`);
    for (const u of data.users) state.users.set(u.id, u);
  }
  renderPresence();
}

function renderPresence() {
  const box = $("presence");
  box.textContent = "";
  const entry = state.channels.get(state.current);
  if (!entry) return;
  for (const member of entry.members) {
    if (member.user_id === state.session.user_id) continue;
    const user = state.users.get(member.user_id) || { id: member.user_id };
    const span = document.createElement("span");
    span.className = "member";
    span.dataset.user = user.id;
    span.dataset.online = user.online ? "true" : "false";
    const dot = document.createElement("i");
    dot.className = user.online ? "dot online" : "dot";
    span.append(dot, user.display_name || user.id);
    box.append(span);
  }
}

// ---------- messages ----------

function ownSet(id) {
  if (!state.own.has(id)) state.own.set(id, new Set());
  return state.own.get(id);
}

// History carries the caller's own reactions; events do not.
function learnOwnReactions(m) {
  if (!m.own_reactions) return;
  const mine = ownSet(m.id);
  mine.clear();
  for (const r of m.own_reactions) mine.add(r.type);
}

function upsertMessage(m, insert) {
  learnOwnReactions(m);
  const known = state.messages.has(m.id);
  if (!known && !insert) return;
  state.messages.set(m.id, { ...(state.messages.get(m.id) || {}), ...m });
  if (!known) {
    // Client-chosen ids are not time-ordered: keep the list sorted by time.
    const key = (id) => `${state.messages.get(id).created_at}|${id}`;
    let i = state.order.length;
    while (i > 0 && key(state.order[i - 1]) > key(m.id)) i--;
    state.order.splice(i, 0, m.id);
    const box = $("messages");
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    const el = renderMessage(state.messages.get(m.id));
    const next = state.order[i + 1] && box.querySelector(`[data-id="${CSS.escape(state.order[i + 1])}"]`);
    box.insertBefore(el, next || null);
    if (atBottom || m.user.id === state.session.user_id) scrollToBottom();
  } else {
    renderMessage(state.messages.get(m.id));
  }
}

function removeMessage(id) {
  state.messages.delete(id);
  state.order = state.order.filter((x) => x !== id);
  const el = $("messages").querySelector(`[data-id="${CSS.escape(id)}"]`);
  if (el) el.remove();
}

function rerender(m) {
  if (state.messages.has(m.id)) renderMessage(m);
  else renderReplies();
}

function time(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function button(label, title, onclick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.title = title;
  b.onclick = onclick;
  return b;
}

// ✓ (delivered) or ✓✓ (read) for my message, by the furthest marks seen.
function ticksOf(m) {
  if (!m.user || m.user.id !== state.session.user_id) return "";
  if (state.read >= m.created_at) return "read";
  if (state.delivered >= m.created_at) return "delivered";
  return "";
}

function renderTicks() {
  for (const el of $("messages").querySelectorAll(".msg")) {
    const m = state.messages.get(el.dataset.id);
    const ticks = el.querySelector(".ticks");
    if (!m || !ticks) continue;
    ticks.dataset.ticks = ticksOf(m);
    ticks.textContent = { read: " ✓✓", delivered: " ✓" }[ticks.dataset.ticks] ?? "";
  }
}

// Where others' marks stand at my latest message, when a channel opens.
async function loadTicks(id) {
  const mine = [...state.messages.values()].filter((m) => m.user?.id === state.session.user_id && m.type !== "deleted");
  const last = mine[mine.length - 1];
  if (!last) return;
  const receipts = await api("GET", `/messages/${encodeURIComponent(last.id)}/read`);
  if (state.current !== id) return;
  const others = (ids) => ids.some((u) => u !== state.session.user_id);
  if (others(receipts.read_by)) state.read = last.created_at;
  if (others(receipts.delivered_to)) state.delivered = last.created_at;
  renderTicks();
}

// Builds (or rebuilds in place) the element of a message.
function renderMessage(m, inThread = false) {
  const selector = `[data-id="${CSS.escape(m.id)}"]`;
  const container = inThread ? $("replies") : $("messages");
  const old = container.querySelector(selector);
  const el = document.createElement("div");
  el.className = "msg";
  el.dataset.id = m.id;
  const deleted = m.type === "deleted" || m.deleted_at;
  el.classList.toggle("deleted", Boolean(deleted));

  const meta = document.createElement("div");
  meta.className = "meta";
  const author = document.createElement("b");
  author.textContent = (m.user && (m.user.display_name || m.user.id)) || "?";
  meta.append(author, ` ${time(m.created_at)}`);
  if (m.edited_at && !deleted) meta.append(" (edited)");
  if (!inThread) {
    const ticks = document.createElement("span");
    ticks.className = "ticks";
    ticks.dataset.ticks = ticksOf(m);
    ticks.textContent = { read: " ✓✓", delivered: " ✓" }[ticks.dataset.ticks] ?? "";
    meta.append(ticks);
  }
  el.append(meta);

  const text = document.createElement("div");
  text.className = "text";
  text.textContent = deleted ? "This message was deleted." : m.text || "";
  el.append(text);

  if (!deleted) {
    for (const a of m.attachments || []) {
      const url = safeUrl(a.url);
      if (a.type === "link") {
        if (url) el.append(linkCard(a, url));
        continue;
      }
      if (!url) {
        const note = document.createElement("div");
        note.className = "attachment-refused";
        note.textContent = `(${a.file_name || "attachment"}: link not shown)`;
        el.append(note);
      } else if ((a.mime_type || "").startsWith("image/") || a.type === "image") {
        const img = document.createElement("img");
        img.className = "attachment";
        img.src = url;
        img.alt = a.file_name || "image";
        img.onload = () => {
          if (!inThread && state.order[state.order.length - 1] === m.id) scrollToBottom();
        };
        el.append(img);
      } else {
        const link = document.createElement("a");
        link.href = url;
        link.textContent = a.file_name || url;
        link.target = "_blank";
        link.rel = "noopener noreferrer";
        el.append(link);
      }
    }
    if (m.poll_id) el.append(renderPoll(m));
    const counts = m.reaction_counts || {};
    const reactions = document.createElement("div");
    reactions.className = "reactions";
    for (const [type, count] of Object.entries(counts)) {
      if (!count) continue;
      const b = button(`${type} ${count}`, "react", () => toggleReaction(m.id, type));
      b.classList.toggle("mine", ownSet(m.id).has(type));
      b.dataset.reaction = type;
      reactions.append(b);
    }
    el.append(reactions);

    const actions = document.createElement("div");
    actions.className = "actions";
    for (const r of REACTIONS) actions.append(button(r, `react ${r}`, () => toggleReaction(m.id, r)));
    if (!inThread) actions.append(button("Reply", "reply in thread", () => openThread(m.id)));
    if (m.user && m.user.id === state.session.user_id) {
      actions.append(button("Edit", "edit", () => editMessage(m, el)));
      actions.append(button("Delete", "delete", () => deleteMessage(m.id)));
    }
    el.append(actions);

    if (!inThread && m.reply_count > 0) {
      const unread = threadOf(m.id)?.unread_replies ?? 0;
      const count = `${m.reply_count} ${m.reply_count === 1 ? "reply" : "replies"}`;
      const link = button(unread > 0 ? `${count} · ${unread} unread` : count, "open thread", () => openThread(m.id));
      link.className = "link replies-link";
      link.classList.toggle("unread", unread > 0);
      el.append(link);
    }
  }
  if (old) old.replaceWith(el);
  return el;
}

// A link's preview: its site, title (the link), description and image.
function linkCard(a, url) {
  const card = document.createElement("a");
  card.className = "link-card";
  card.href = url;
  card.target = "_blank";
  card.rel = "noopener noreferrer";
  const image = safeUrl(a.image_url);
  if (image) {
    const img = document.createElement("img");
    img.src = image;
    img.alt = "";
    card.append(img);
  }
  for (const [cls, value] of [["site", a.site_name], ["title", a.title || url], ["description", a.description]]) {
    if (!value) continue;
    const line = document.createElement("span");
    line.className = cls;
    line.textContent = value;
    card.append(line);
  }
  return card;
}

// A poll under its message: each option with its count (the user's votes
// marked; a click votes or takes the vote back), and a close button for its
// creator. Loaded once; the SDK keeps it current from `poll.*` events.
function renderPoll(m) {
  const box = document.createElement("div");
  box.className = "poll";
  const poll = state.client.state.polls.get(m.poll_id);
  if (!poll) {
    box.textContent = "Loading poll…";
    state.client.loadPoll(m.poll_id).then(() => rerender(m), () => (box.textContent = "(poll unavailable)"));
    return box;
  }
  const question = document.createElement("div");
  question.className = "poll-question";
  question.textContent = `📊 ${poll.question}${poll.is_closed ? " (closed)" : ""}`;
  box.append(question);
  for (const option of poll.options) {
    const mine = poll.own_votes.find((v) => v.option_id === option.id);
    const b = button(`${option.text} · ${option.vote_count}`, `vote ${option.text}`, async () => {
      try {
        if (mine) await state.client.removeVote(poll.id, mine.id);
        else await state.client.vote(poll.id, option.id);
        rerender(m);
      } catch (err) {
        showError(err);
      }
    });
    b.className = "poll-option";
    b.classList.toggle("mine", Boolean(mine));
    b.disabled = poll.is_closed;
    b.dataset.option = option.text;
    box.append(b);
  }
  if (!poll.is_closed && poll.created_by === state.session.user_id) {
    const close = button("Close poll", "close poll", async () => {
      try {
        await state.client.closePoll(poll.id);
        rerender(m);
      } catch (err) {
        showError(err);
      }
    });
    close.className = "link";
    box.append(close);
  }
  return box;
}

// `/poll Question? | option | option ...` in the composer sends a poll.
function pollInput(text) {
  const found = /^\/poll\s+(.+)$/s.exec(text);
  if (!found) return null;
  const [question, ...options] = found[1].split("|").map((part) => part.trim());
  return { question, options: options.filter(Boolean).map((option) => ({ text: option })) };
}

async function toggleReaction(id, type) {
  try {
    if (ownSet(id).has(type)) await api("DELETE", `/messages/${id}/reactions/${encodeURIComponent(type)}`);
    else await api("POST", `/messages/${id}/reactions`, { type });
  } catch (err) {
    showError(err);
  }
}

function editMessage(m, el) {
  const text = el.querySelector(".text");
  const input = document.createElement("textarea");
  input.className = "edit";
  input.value = m.text || "";
  text.replaceWith(input);
  input.focus();
  input.onkeydown = async (event) => {
    if (event.key === "Escape") renderMessage(m);
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      try {
        const updated = await api("PATCH", `/messages/${m.id}`, { text: input.value });
        upsertMessage(updated.message, false);
      } catch (err) {
        showError(err);
        renderMessage(m);
      }
    }
  };
}

async function deleteMessage(id) {
  try {
    await api("DELETE", `/messages/${id}`);
  } catch (err) {
    showError(err);
  }
}

function scrollToBottom() {
  const box = $("messages");
  box.scrollTop = box.scrollHeight;
}

// Scroll-back: older pages load when the list is scrolled to the top.
$("messages").addEventListener("scroll", async () => {
  const box = $("messages");
  if (box.scrollTop > 40 || state.exhausted || state.loadingOlder || !state.current) return;
  state.loadingOlder = true;
  const channel = state.current;
  try {
    const oldest = state.order[0];
    const page = await api("GET", `/channels/${channel}/messages?limit=${PAGE}&before=${oldest}`);
    if (state.current !== channel) return;
    state.exhausted = page.messages.length < PAGE;
    const height = box.scrollHeight;
    for (const m of page.messages) upsertMessage(m, true);
    box.scrollTop = box.scrollHeight - height + box.scrollTop;
  } catch (err) {
    showError(err);
  } finally {
    state.loadingOlder = false;
  }
});

// ---------- composing ----------

async function send(text, extra = {}) {
  const input = { ...extra };
  if (text) input.text = text;
  // Through the socket with a client id, queued while offline: a send cut
  // off by a reconnect goes again and is stored once.
  const message = await state.client.send(state.current, input);
  if (input.parent_id) noteReply(message);
  else upsertMessage(message, true);
  return message;
}

function typing(parentId) {
  const now = Date.now();
  if (now - state.typingSent > 3000) {
    sendFrame({ action: "typing.start", channel_id: state.current, parent_id: parentId || undefined });
    state.typingSent = now;
  }
  clearTimeout(state.typingStop);
  state.typingStop = setTimeout(() => stopTyping(parentId), 4000);
}

function stopTyping(parentId) {
  clearTimeout(state.typingStop);
  if (state.typingSent) {
    sendFrame({ action: "typing.stop", channel_id: state.current, parent_id: parentId || undefined });
    state.typingSent = 0;
  }
}

function composer(form, textarea, parent) {
  textarea.addEventListener("input", () => typing(parent()));
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.onsubmit = async (event) => {
    event.preventDefault();
    const text = textarea.value.trim();
    if (!text || !state.current) return;
    textarea.value = "";
    stopTyping(parent());
    try {
      const later = form.id === "composer" ? Number($("when").value) : 0;
      const poll = form.id === "composer" ? pollInput(text) : null;
      if (poll) {
        const { message } = await state.client.sendPoll(state.current, poll);
        upsertMessage(message, true);
      } else if (later > 0) {
        await state.client.schedule(state.current, { text }, new Date(Date.now() + later * 1000));
        $("when").value = "0";
      } else await send(text, parent() ? { parent_id: parent() } : {});
    } catch (err) {
      textarea.value = text;
      showError(err);
    }
  };
}

// The current channel's scheduled messages: pending (cancel) or failed (why).
function renderScheduled() {
  const list = $("scheduled");
  list.textContent = "";
  if (!state.client || !state.current) return;
  for (const s of state.client.state.scheduled.values()) {
    if (s.channel_id !== state.current) continue;
    const item = document.createElement("li");
    item.dataset.status = s.status;
    const when = new Date(s.scheduled_at).toLocaleTimeString();
    const label = document.createElement("span");
    label.textContent =
      s.status === "failed" ? `⚠ not sent (${s.failure?.message}): ${s.text ?? ""}` : `🕒 ${when}: ${s.text ?? ""}`;
    item.append(label);
    if (s.status !== "sending") {
      const cancel = document.createElement("button");
      cancel.className = "link";
      cancel.textContent = "cancel";
      cancel.onclick = () => state.client.cancelScheduled(s.id).catch(showError);
      item.append(cancel);
    }
    list.append(item);
  }
}

composer($("composer"), $("text"), () => null);
composer($("reply-composer"), $("reply-text"), () => state.thread);

$("file").onchange = async (event) => {
  const file = event.target.files[0];
  event.target.value = "";
  if (!file || !state.current) return;
  try {
    const q = new URLSearchParams({
      file_name: file.name,
      mime_type: file.type || "application/octet-stream",
      size: String(file.size),
      channel_id: state.current,
    });
    const signed = await api("GET", `/upload/signed-url?${q}`);
    // Exactly the signed headers (If-None-Match among them); the browser
    // sets Content-Length itself.
    const headers = {};
    for (const [name, value] of Object.entries(signed.headers || {})) {
      if (!["content-length", "host"].includes(name.toLowerCase())) headers[name] = value;
    }
    const put = await fetch(signed.upload_url, {
      method: signed.method || "PUT",
      headers,
      body: file,
    });
    if (!put.ok) throw new Error(`upload refused (${put.status})`);
    await send($("text").value.trim(), {
      attachments: [
        { type: "image", url: signed.file_url, file_name: signed.file_name, file_size: file.size, mime_type: file.type },
      ],
    });
    $("text").value = "";
  } catch (err) {
    showError(err);
  }
};

// ---------- typing indicators ----------

function onTyping(event) {
  const key = `${event.channel_id}|${event.parent_id || ""}`;
  if (!state.typing.has(key)) state.typing.set(key, new Map());
  const who = state.typing.get(key);
  clearTimeout(who.get(event.user.id));
  if (event.type === "typing.start") {
    // A client that vanished without typing.stop is forgotten after a while.
    who.set(event.user.id, setTimeout(() => {
      who.delete(event.user.id);
      renderTyping();
    }, 7000));
  } else {
    who.delete(event.user.id);
  }
  renderTyping();
}

function typingText(key) {
  const who = [...(state.typing.get(key) || new Map()).keys()].map((id) => {
    const u = state.users.get(id);
    return (u && u.display_name) || id;
  });
  if (!who.length) return "";
  return `${who.join(", ")} ${who.length === 1 ? "is" : "are"} typing…`;
}

function renderTyping() {
  $("typing").textContent = state.current ? typingText(`${state.current}|`) : "";
  $("thread-typing").textContent = state.thread ? typingText(`${state.current}|${state.thread}`) : "";
}

// ---------- threads ----------

// The threads I take part in, with unread replies (the SDK's state).
function threadOf(id) {
  return state.client ? state.client.state.threads.get(id) : undefined;
}

function unreadThreadsIn(entry) {
  if (!state.client || state.client.state.threads.size === 0) return entry.unread_threads || 0;
  let n = 0;
  for (const t of state.client.state.threads.values()) {
    if (t.channel_id === entry.channel.id && t.unread_replies > 0) n++;
  }
  return n;
}

// Reload my threads and show their unread counts.
async function refreshThreads() {
  try {
    await state.client.loadThreads();
  } catch {
    return;
  }
  if (state.thread) await readThread(state.thread);
  for (const id of state.order) {
    const m = state.messages.get(id);
    if (m && m.reply_count > 0) renderMessage(m);
  }
  renderChannels();
}

// The open thread is read.
async function readThread(id) {
  try {
    await state.client.markThreadRead(id);
  } catch {
    return;
  }
  const parent = state.messages.get(id);
  if (parent) renderMessage(parent);
  renderChannels();
}

async function openThread(id) {
  state.thread = id;
  $("thread").hidden = false;
  const parent = state.messages.get(id);
  $("thread-parent").textContent = "";
  if (parent) {
    const el = renderMessage(parent, true);
    el.classList.add("parent");
    $("thread-parent").append(el);
  }
  const data = await api("GET", `/messages/${id}/replies?limit=100`);
  if (state.thread !== id) return;
  state.replies = data.messages;
  data.messages.forEach(learnOwnReactions);
  renderReplies();
  readThread(id);
  renderTyping();
  $("reply-text").focus();
}

// A new reply, seen once whether it came back from our own send or as an
// event: counted on its parent and shown in the open thread.
function noteReply(m) {
  if (state.seenReplies.has(m.id)) return;
  state.seenReplies.add(m.id);
  if (state.thread === m.parent_id) appendReply(m);
  const parent = state.messages.get(m.parent_id);
  if (parent) {
    parent.reply_count = (parent.reply_count || 0) + 1;
    renderMessage(parent);
  }
  // Someone else's reply: my threads (and their unread counts) may change.
  if (m.user && m.user.id !== state.session.user_id) refreshThreads();
}

function appendReply(m) {
  if (state.replies.some((r) => r.id === m.id)) return;
  state.replies.push(m);
  renderReplies();
}

function renderReplies() {
  const box = $("replies");
  box.textContent = "";
  for (const m of state.replies) box.append(renderMessage(m, true));
  box.scrollTop = box.scrollHeight;
}

function closeThread() {
  state.thread = null;
  state.replies = [];
  $("thread").hidden = true;
}

$("close-thread").onclick = closeThread;

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") markRead();
});

// For tests and the curious: drop the socket as a network failure would.
window.chatDebug = {
  dropSocket: () => state.client && state.client.socket.drop(),
  state,
};

// ---------- boot ----------

const saved = sessionStorage.getItem("chat-session");
if (saved) start(JSON.parse(saved));
else showLogin();
