// Alice and Bob on the local stack, through the SDK: Alice sends, Bob's
// client receives it live (or, if his socket is not open yet, from the
// catch-up) and counts it unread. Run from clients/typescript with the
// stack's dev.env exported (README: Client SDK).
import WebSocket from "ws"; // Node 20 has no WebSocket of its own; browsers and Node 22 do
import { ChatClient } from "../dist/index.js";

const env = process.env;
const connect = (userId, token) =>
  new ChatClient({
    url: env.CHAT_URL,
    wsUrl: env.CHAT_WS_URL,
    apiKey: env.CHAT_API_KEY,
    userId,
    token: () => token, // a real app asks its backend for a fresh one when told to refresh
    WebSocket,
  });

const alice = connect("alice", env.CHAT_ALICE_TOKEN);
const bob = connect("bob", env.CHAT_BOB_TOKEN);
const received = new Promise((resolve) => {
  bob.onevent = (event) => {
    if (event.type === "message.new" && event.message.text === "hi from the SDK") resolve(event.message);
  };
});
await Promise.all([alice.connect(), bob.connect()]);

const { channel } = await alice.rest.call("channels_create", { body: { type: "direct", members: ["bob"] } });
const sent = await alice.send(channel.id, { text: "hi from the SDK" });
const got = await received;
console.log(`alice sent ${sent.id}; bob received: ${got.text}`);
console.log(`bob's unread messages: ${bob.state.totalUnread}`);
alice.disconnect();
bob.disconnect();
