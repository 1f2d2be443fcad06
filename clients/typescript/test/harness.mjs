// What the SDK's tests share: the running local stack (test/run.sh starts it
// and passes its dev.env), users and tokens made with the server token, and
// clients built from the package as published (dist/).
import WebSocket from "ws";
import { ChatClient } from "../dist/index.js";

export const env = {
  url: process.env.CHAT_URL,
  wsUrl: process.env.CHAT_WS_URL,
  apiKey: process.env.CHAT_API_KEY,
  server: process.env.CHAT_SERVER_TOKEN,
};
if (!env.url) throw new Error("run through test/run.sh (CHAT_URL and the rest come from the local stack)");

export async function server(method, path, body) {
  const response = await fetch(env.url + path, {
    method,
    headers: { "X-Api-Key": env.apiKey, Authorization: `Bearer ${env.server}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

let n = 0;
/** Fresh users (ids unique to this run), so tests do not meet. */
export async function users(...names) {
  const stamp = `${Date.now().toString(36)}${n++}`;
  const ids = names.map((name) => `${name}-${stamp}`);
  await server("POST", "/users", { users: ids.map((id) => ({ id })) });
  return ids;
}

export async function token(user, expiresIn) {
  const body = expiresIn ? { expires_in: expiresIn } : {};
  return (await server("POST", `/users/${user}/token`, body)).token;
}

export function client(userId, provider, Impl = WebSocket) {
  return new ChatClient({
    url: env.url,
    wsUrl: env.wsUrl,
    apiKey: env.apiKey,
    userId,
    token: provider ?? (() => token(userId)),
    WebSocket: Impl,
    backoff: { min: 50, max: 500 },
  });
}

/** Waits until `check()` is true (state arrives through the socket). */
export async function until(check, what = "a condition", ms = 10_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
