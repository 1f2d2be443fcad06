// The load benchmark from Node.js clients (the `ws` package), the kind of
// client users run: N users over M channels send `message.send` frames at a
// target rate for T seconds against a running local stack; every member is
// connected. It prints and writes latency (send to `message.new` at each
// member) p50/p95/p99, lost and duplicated deliveries, and the CPU per
// delivery of the server processes named with --pid (read from /proc).
//
//   target/release/chat-local --memory &    # writes .chat-data/dev.env
//   node local/bench/node/load.mjs --env .chat-data/dev.env --pid $!
//
// Options: --clients 1000 --channels 100 --rate 200 --seconds 30
// --json node-load.json. Exits 1 when a message is lost or duplicated.

import { readFileSync, writeFileSync } from "node:fs";
import { execSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { SignJWT } from "jose";
import WebSocket from "ws";

const { values: args } = parseArgs({
  options: {
    env: { type: "string", default: ".chat-data/dev.env" },
    pid: { type: "string", multiple: true, default: [] },
    clients: { type: "string", default: "1000" },
    channels: { type: "string", default: "100" },
    rate: { type: "string", default: "200" },
    seconds: { type: "string", default: "30" },
    json: { type: "string", default: "node-load.json" },
  },
});
const clients = Number(args.clients);
const channels = Number(args.channels);
const rate = Number(args.rate);
const seconds = Number(args.seconds);

const env = Object.fromEntries(
  readFileSync(args.env, "utf8")
    .split("\n")
    .filter((line) => line.includes("="))
    .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
);
for (const name of ["CHAT_URL", "CHAT_WS_URL", "CHAT_API_KEY", "CHAT_SERVER_TOKEN", "CHAT_API_SECRET"]) {
  if (!env[name]) throw new Error(`${args.env} has no ${name}`);
}

async function call(method, path, token, body) {
  const response = await fetch(`${env.CHAT_URL}${path}`, {
    method,
    headers: {
      "X-Api-Key": env.CHAT_API_KEY,
      Authorization: `Bearer ${token}`,
      "Content-Type": "application/json",
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return JSON.parse(text);
}

const secret = new TextEncoder().encode(env.CHAT_API_SECRET);
const mint = (userId) =>
  new SignJWT({ user_id: userId }).setProtectedHeader({ alg: "HS256", typ: "JWT" }).setIssuedAt().sign(secret);

// /proc/<pid>/stat: utime and stime (fields 14 and 15) in clock ticks.
const ticksPerSecond = Number(execSync("getconf CLK_TCK").toString().trim()) || 100;
function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond;
}
const serverCpu = () => args.pid.map(cpuMs).reduce((a, b) => a + b, 0);

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.round(p * (sorted.length - 1)))];
}
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Users and channels: user i is in channel i mod M; its first member creates it.
const run = randomBytes(3).toString("hex");
const ids = Array.from({ length: clients }, (_, i) => `nl${run}u${String(i).padStart(5, "0")}`);
for (let i = 0; i < ids.length; i += 100) {
  await call("POST", "/users", env.CHAT_SERVER_TOKEN, { users: ids.slice(i, i + 100).map((id) => ({ id })) });
}
const tokens = await Promise.all(ids.map(mint));
const channelOf = ids.map((_, i) => i % channels);
const channelIds = [];
const membersOf = [];
for (let c = 0; c < channels; c++) {
  const members = ids.map((_, i) => i).filter((i) => channelOf[i] === c);
  membersOf.push(members.length);
  const created = await call("POST", "/channels", tokens[members[0]], {
    type: "group",
    name: `node-load ${c}`,
    members: members.slice(1).map((i) => ids[i]),
  });
  channelIds.push(created.channel.id);
}

// Sockets: every `message.new` is recorded by text, every ack by request id.
const receipts = ids.map(() => []);
const acked = new Map();
// A handshake over the gateway's connection rate (AWS: 500 a second) is
// answered 429: the client waits and connects again, as the SDK does.
async function open(i) {
  for (;;) {
    try {
      return await connect(i);
    } catch (err) {
      if (!String(err?.message).includes("429")) throw err;
      await sleep(100 + Math.random() * 400);
    }
  }
}
function connect(i) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${env.CHAT_WS_URL}/?api_key=${env.CHAT_API_KEY}&token=${tokens[i]}`);
    socket.on("open", () => resolve(socket));
    socket.on("error", reject);
    socket.on("message", (data) => {
      const now = performance.now();
      const event = JSON.parse(data.toString());
      if (event.type === "message.new" && typeof event.message?.text === "string") {
        receipts[i].push([event.message.text, now]);
      } else if (event.type === "ack" && event.ok === true) {
        acked.set(event.request_id, now);
      }
    });
  });
}
const connectStarted = performance.now();
const sockets = new Array(clients);
let next = 0;
await Promise.all(
  Array.from({ length: 32 }, async () => {
    while (next < clients) {
      const i = next++;
      sockets[i] = await open(i);
    }
  }),
);
console.log(`${clients} clients connected in ${((performance.now() - connectStarted) / 1000).toFixed(1)} s`);
await sleep(500);

// The load: one frame every 1/rate s from a pseudo-random sender.
const total = rate * seconds;
const sentAt = new Map();
let seed = 0x2545f491;
const cpuBefore = serverCpu();
const ownBefore = process.cpuUsage();
const started = performance.now();
for (let n = 0; n < total; n++) {
  const due = started + (n * 1000) / rate;
  const wait = due - performance.now();
  if (wait > 1) await sleep(wait);
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  const sender = (seed >>> 0) % clients;
  const text = `node-${run}-${n}`;
  sentAt.set(text, [performance.now(), channelOf[sender]]);
  sockets[sender].send(
    JSON.stringify({ action: "message.send", request_id: text, channel_id: channelIds[channelOf[sender]], text }),
  );
}
const sendSeconds = (performance.now() - started) / 1000;
const delivered = () => receipts.reduce((sum, r) => sum + r.length, 0);
for (let previous = -1; delivered() !== previous; ) {
  previous = delivered();
  await sleep(2000);
}
const serverMs = serverCpu() - cpuBefore;
const own = process.cpuUsage(ownBefore);

const latencies = [];
let duplicated = 0;
let lost = 0;
receipts.forEach((receipt, i) => {
  const seen = new Map();
  for (const [text, at] of receipt) {
    seen.set(text, (seen.get(text) ?? 0) + 1);
    const sent = sentAt.get(text);
    if (sent) latencies.push(at - sent[0]);
  }
  for (const count of seen.values()) duplicated += count - 1;
  for (const [text, [, channel]] of sentAt) {
    if (channel === channelOf[i] && acked.has(text) && !seen.has(text)) lost += 1;
  }
});
latencies.sort((a, b) => a - b);
const count = delivered();
const result = {
  benchmark: "node-load",
  clients,
  channels,
  target_rate: rate,
  seconds,
  sent: total,
  acknowledged: [...sentAt.keys()].filter((t) => acked.has(t)).length,
  expected_deliveries: [...sentAt].filter(([t]) => acked.has(t)).reduce((s, [, [, c]]) => s + membersOf[c], 0),
  delivered: count,
  lost,
  duplicated,
  achieved_send_rate: total / sendSeconds,
  latency_ms: {
    p50: percentile(latencies, 0.5),
    p95: percentile(latencies, 0.95),
    p99: percentile(latencies, 0.99),
    max: latencies.at(-1) ?? 0,
  },
  server_pids: args.pid.map(Number),
  server_cpu_ms: serverMs,
  server_cpu_ms_per_delivery: serverMs / Math.max(count, 1),
  client_cpu_ms: (own.user + own.system) / 1000,
};
console.log(JSON.stringify(result, null, 2));
writeFileSync(args.json, JSON.stringify(result, null, 2));
for (const socket of sockets) socket.close();
if (lost > 0 || duplicated > 0 || result.acknowledged < total) {
  console.error(`lost ${lost}, duplicated ${duplicated}, acknowledged ${result.acknowledged} of ${total}`);
  process.exit(1);
}
process.exit(0);
