import { test } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { client, env, server, sleep, token, until, users } from "./harness.mjs";

const texts = (c, channel) => (c.state.channels.get(channel)?.messages ?? []).map((m) => m.text);

async function pair() {
  const [a, b] = await users("alice", "bob");
  const alice = client(a);
  const bob = client(b);
  await Promise.all([alice.connect(), bob.connect()]);
  await until(() => alice.status === "open" && bob.status === "open", "both sockets open");
  const created = await alice.rest.call("channels_create", { body: { type: "group", name: "sdk", members: [b] } });
  const channel = created.channel.id;
  // Bob hears of the channel on his socket.
  await until(() => bob.state.channels.has(channel), "bob's channel list to gain the channel");
  await alice.loadChannels();
  return { a, b, alice, bob, channel };
}

test("two clients exchange messages both ways, with unread counts, threads, reactions, reads and typing", async () => {
  const { a, b, alice, bob, channel } = await pair();
  const sent = await alice.send(channel, { text: "hello bob" });
  assert.equal(sent.text, "hello bob");
  await until(() => texts(bob, channel).includes("hello bob"), "bob to receive");
  assert.equal(bob.state.channels.get(channel).unread, 1);
  assert.equal(bob.state.totalUnread, 1);
  await bob.send(channel, { text: "hi alice" });
  await until(() => texts(alice, channel).includes("hi alice"), "alice to receive");
  assert.deepEqual(texts(alice, channel), ["hello bob", "hi alice"]);

  // A thread reply lands in the thread, not the history.
  await bob.send(channel, { text: "in a thread", parent_id: sent.id });
  await until(() => alice.state.channels.get(channel).threads.get(sent.id)?.length === 1, "the thread reply");
  assert.deepEqual(texts(alice, channel), ["hello bob", "hi alice"]);

  // Reactions, with the reactor's own.
  await bob.rest.call("react", { path: { id: sent.id }, body: { type: "like" } });
  await until(() => alice.state.channels.get(channel).messages[0].reaction_counts.like === 1, "the reaction");
  await until(() => bob.state.channels.get(channel).messages.find((m) => m.id === sent.id)?.own_reactions.includes("like"), "bob's own reaction");

  // Typing and read state.
  bob.typing(channel);
  await until(() => alice.state.typing(channel).includes(b), "bob typing");
  await bob.markRead(channel);
  assert.equal(bob.state.totalUnread, 0);
  await until(() => alice.state.channels.get(channel).reads.has(b), "bob's read mark");
  assert.ok(alice.state.list().some((c) => c.channel.id === channel));
  assert.equal(alice.state.me, a);
  alice.disconnect();
  bob.disconnect();
});

test("after a dropped connection, edits, deletes and reactions made meanwhile arrive", async () => {
  const { alice, bob, channel } = await pair();
  const first = await alice.send(channel, { text: "first" });
  const second = await alice.send(channel, { text: "second" });
  const third = await alice.send(channel, { text: "third" });
  await until(() => texts(bob, channel).length === 3, "bob to have three messages");

  bob.disconnect();
  await until(() => bob.status === "offline", "bob offline");
  await alice.rest.call("edit_message", { path: { id: first.id }, body: { text: "first, edited" } });
  await alice.rest.call("delete_message", { path: { id: second.id } });
  await alice.rest.call("react", { path: { id: third.id }, body: { type: "wow" } });
  await alice.send(channel, { text: "fourth" });
  await sleep(100);
  // Nothing reached bob while away.
  assert.deepEqual(texts(bob, channel), ["first", "second", "third"]);

  bob.socket.start();
  await until(() => texts(bob, channel).includes("fourth"), "the catch-up");
  const messages = bob.state.channels.get(channel).messages;
  assert.equal(messages.find((m) => m.id === first.id).text, "first, edited");
  assert.equal(messages.find((m) => m.id === second.id).type, "deleted");
  assert.equal(messages.find((m) => m.id === third.id).reaction_counts.wow, 1);

  // A dropped socket (as a network drops it) comes back by itself.
  const seen = [];
  bob.onstatus = (status) => seen.push(status);
  bob.socket.drop();
  await until(() => seen.includes("offline") && seen.at(-1) === "open", "the drop and the reconnect");
  await alice.send(channel, { text: "fifth" });
  await until(() => texts(bob, channel).includes("fifth"), "a message after the reconnect");
  alice.disconnect();
  bob.disconnect();
});

test("a token that expires mid-session is replaced without the application noticing", async () => {
  const [a, b] = await users("alice", "bob");
  const refreshed = [];
  // The first token lives one second (and the server's 5 s leeway).
  const alice = client(a, async (refresh) => {
    refreshed.push(refresh);
    return refreshed.length === 1 ? token(a, 1) : token(a);
  });
  await alice.connect();
  await until(() => alice.status === "open", "open");
  const { channel } = await alice.rest.call("channels_create", { body: { type: "group", name: "t", members: [b] } });
  await sleep(7_000);
  // REST: refused as expired, retried with a new token.
  const me = await alice.rest.call("get_user", { path: { id: a } });
  assert.equal(me.user.id, a);
  assert.ok(refreshed.includes(true), "the provider was asked for a new token");
  // The socket reconnects with the new token too.
  const seen = [];
  alice.onstatus = (status) => seen.push(status);
  alice.socket.drop();
  await until(() => seen.includes("offline") && seen.at(-1) === "open", "the reconnect");
  const sent = await alice.send(channel.id, { text: "still here" });
  assert.equal(sent.text, "still here");
  alice.disconnect();
});

test("sends made offline go out in order on reconnect, and a send whose ack was lost is stored once", async () => {
  const { alice, bob, channel } = await pair();
  alice.disconnect();
  await until(() => alice.status === "offline", "offline");
  const queued = [alice.send(channel, { text: "q1" }), alice.send(channel, { text: "q2" }), alice.send(channel, { text: "q3" })];
  assert.equal(alice.pending, 3);
  alice.socket.start();
  const stored = await Promise.all(queued);
  assert.deepEqual(stored.map((m) => m.text), ["q1", "q2", "q3"]);
  await until(() => texts(bob, channel).includes("q3"), "bob to receive the queue");
  assert.deepEqual(texts(bob, channel), ["q1", "q2", "q3"]);
  alice.disconnect();

  // A socket that loses the first send's ack: the server stored it, the
  // client never heard; it sends again with the same id after reconnecting.
  let lost = false;
  class LossySocket extends WebSocket {
    set onmessage(handler) {
      super.onmessage = (m) => {
        const text = String(m.data);
        if (!lost && text.includes('"type":"ack"') && text.includes("lost ack")) {
          lost = true;
          this.terminate();
          return;
        }
        handler(m);
      };
    }
    get onmessage() {
      return super.onmessage;
    }
  }
  const lossy = client(alice.options.userId, undefined, LossySocket);
  await lossy.connect();
  await until(() => lossy.status === "open", "open");
  const sent = await lossy.send(channel, { text: "lost ack" });
  assert.ok(lost, "the first ack was lost");
  const history = await server("GET", `/channels/${channel}/messages?limit=100`);
  const copies = history.messages.filter((m) => m.text === "lost ack");
  assert.equal(copies.length, 1);
  assert.equal(copies[0].id, sent.id);
  lossy.disconnect();
  bob.disconnect();
});

test("scheduled messages wait in the state until sent, then arrive with their id; a cancelled one never does", async () => {
  const { alice, bob, channel } = await pair();
  const later = await alice.schedule(channel, { text: "in eleven seconds" }, new Date(Date.now() + 11_000));
  assert.equal(later.status, "pending");
  const never = await alice.schedule(channel, { text: "never" }, new Date(Date.now() + 60_000));
  assert.equal(alice.state.scheduled.size, 2);
  await alice.cancelScheduled(never.id);
  const moved = await alice.reschedule(later.id, { text: "in eleven seconds, edited" });
  assert.equal(moved.text, "in eleven seconds, edited");
  await alice.loadScheduled();
  assert.deepEqual([...alice.state.scheduled.keys()], [later.id]);
  // Bob sees nothing until it is due.
  assert.deepEqual(texts(bob, channel), []);
  await until(() => texts(bob, channel).includes("in eleven seconds, edited"), "the scheduled message", 20_000);
  await until(() => alice.state.scheduled.size === 0, "alice's scheduled list to empty");
  const got = bob.state.channels.get(channel).messages.find((m) => m.text === "in eleven seconds, edited");
  assert.equal(got.id, later.id);
  await assert.rejects(alice.schedule(channel, { text: "too soon" }, new Date(Date.now() + 1_000)), (e) => e.code === "validation_error");
  alice.disconnect();
  bob.disconnect();
});

test("reminders and saved messages are kept in the state, and a due reminder arrives on the socket", async () => {
  const { alice, bob, channel } = await pair();
  const [first, second] = [await bob.send(channel, { text: "remember" }), await bob.send(channel, { text: "keep" })];
  await until(() => texts(alice, channel).includes("keep"), "alice to get both messages");
  const saved = await alice.remind(second.id);
  assert.equal(saved.status, "saved");
  const timed = await alice.remind(first.id, new Date(Date.now() + 2_000));
  assert.equal(timed.status, "upcoming");
  assert.equal(timed.message.text, "remember");
  await assert.rejects(alice.remind(first.id), (e) => e.status === 409 && e.code === "conflict");
  assert.deepEqual((await alice.loadReminders()).map((r) => r.message_id), [first.id, second.id]);
  await until(() => alice.state.reminders.get(first.id)?.status === "due", "reminder.due on alice's socket", 15_000);
  assert.deepEqual((await alice.loadReminders("due")).map((r) => r.message_id), [first.id]);
  const untimed = await alice.changeReminder(first.id, null);
  assert.equal(untimed.remind_at, null);
  await alice.deleteReminder(second.id);
  assert.deepEqual([...alice.state.reminders.keys()], [first.id]);
  await alice.loadReminders();
  assert.deepEqual([...alice.state.reminders.keys()], [first.id]);
  assert.equal(bob.state.reminders.size, 0);
  alice.disconnect();
  bob.disconnect();
});

test("a poll sent in a channel keeps its counts and the user's votes in both states", async () => {
  const { alice, bob, channel } = await pair();
  const { poll, message } = await alice.sendPoll(channel, { question: "Lunch?", options: [{ text: "soup" }, { text: "salad" }] });
  assert.equal(message.poll_id, poll.id);
  await until(() => texts(bob, channel).includes("Lunch?"), "bob to get the poll's message");
  await bob.loadPoll(poll.id);
  const [soup, salad] = poll.options.map((o) => o.id);
  const voted = await bob.vote(poll.id, soup);
  assert.deepEqual(voted.options.map((o) => o.vote_count), [1, 0]);
  await until(() => alice.state.polls.get(poll.id)?.vote_count === 1, "poll.vote_cast in alice's state");
  assert.equal(alice.state.polls.get(poll.id).latest_votes[0].user_id, bob.options.userId);
  await alice.vote(poll.id, salad);
  await until(() => bob.state.polls.get(poll.id)?.vote_count === 2, "alice's vote in bob's state");
  assert.deepEqual(bob.state.polls.get(poll.id).own_votes.map((v) => v.option_id), [soup]);
  await bob.removeVote(poll.id, voted.own_votes[0].id);
  await until(() => alice.state.polls.get(poll.id)?.options[0].vote_count === 0, "the vote taken back, in alice's state");
  assert.equal(bob.state.polls.get(poll.id).own_votes.length, 0);
  await alice.addPollOption(poll.id, "bread");
  await until(() => bob.state.polls.get(poll.id)?.options.length === 3, "poll.updated in bob's state");
  await alice.closePoll(poll.id);
  await until(() => bob.state.polls.get(poll.id)?.is_closed, "poll.closed in bob's state");
  await assert.rejects(bob.vote(poll.id, soup), (e) => e.status === 409 && e.code === "conflict");
  alice.disconnect();
  bob.disconnect();
});

test("a link's preview reaches the message in both states", async () => {
  const { alice, bob, channel } = await pair();
  const session = await (await fetch(env.url.replace(/\/api\/v1\/?$/, "") + "/dev/session")).json();
  const sent = await alice.send(channel, { text: `walk: ${session.sample_page}` });
  const preview = (c) => c.state.channels.get(channel)?.messages.find((m) => m.id === sent.id)?.attachments.find((a) => a.type === "link");
  await until(() => preview(bob) && preview(alice), "message.updated with the link attachment in both states");
  assert.equal(preview(bob).title, "A walk on the ridge");
  assert.equal(preview(bob).url, session.sample_page);
  const skipped = await alice.send(channel, { text: `again: ${session.sample_page}`, skip_enrich_url: true });
  await sleep(1_000);
  assert.equal(bob.state.channels.get(channel).messages.find((m) => m.id === skipped.id)?.attachments.length ?? 0, 0);
  alice.disconnect();
  bob.disconnect();
});

test("threads the user takes part in count unread replies as they arrive, until marked read", async () => {
  const { alice, bob, channel } = await pair();
  const parent = await alice.send(channel, { text: "a thread" });
  await until(() => texts(bob, channel).includes("a thread"), "bob to get the parent");
  await bob.send(channel, { text: "first reply", parent_id: parent.id });
  assert.deepEqual((await alice.loadThreads()).map((t) => [t.parent_id, t.unread_replies]), [[parent.id, 1]]);
  await bob.send(channel, { text: "second reply", parent_id: parent.id });
  await until(() => alice.state.threads.get(parent.id)?.unread_replies === 2, "a second unread reply in alice's state");
  const read = await alice.markThreadRead(parent.id);
  assert.equal(read.unread_replies, 0);
  assert.equal(alice.state.threads.get(parent.id).unread_replies, 0);
  const unread = await alice.rest.call("unread", {});
  assert.equal(unread.unread_threads, 0);
  alice.disconnect();
  bob.disconnect();
});

test("messages are marked delivered as they arrive, one frame a second at most, and the sender's state learns it", async () => {
  const [a, b] = await users("alice", "bob");
  let frames = 0;
  class Counting extends WebSocket {
    send(data) {
      if (String(data).includes('"channel.mark_delivered"')) frames++;
      super.send(data);
    }
  }
  const alice = client(a);
  const bob = client(b, undefined, Counting);
  await Promise.all([alice.connect(), bob.connect()]);
  await until(() => alice.status === "open" && bob.status === "open", "both sockets open");
  const created = await alice.rest.call("channels_create", { body: { type: "group", name: "ticks", members: [b] } });
  const channel = created.channel.id;
  await until(() => bob.state.channels.has(channel), "bob's channel");
  await alice.loadChannels();
  let last;
  for (let i = 0; i < 5; i++) last = await alice.send(channel, { text: `burst ${i}` });
  await until(() => alice.state.channels.get(channel).delivered.get(b) === last.id, "alice to hear bob's delivery of the last", 5_000);
  const receipts = await server("GET", `/messages/${last.id}/read`);
  assert.deepEqual(receipts.delivered_to, [b]);
  assert.ok(frames >= 1 && frames <= 3, `${frames} delivery frames for 5 messages within about a second`);
  // Bob's own messages are not his to mark.
  const before = frames;
  await bob.send(channel, { text: "mine" });
  await sleep(1_500);
  assert.equal(frames, before);
  alice.disconnect();
  bob.disconnect();
});

test("events a big channel's fan-out coalesces into one batch frame reach the state one by one, in order", async () => {
  // run.sh makes a channel of three online a crowd, whose fan-outs start a second apart.
  const [a, b, c] = await users("alice", "bob", "carol");
  const frames = [];
  class Recording extends WebSocket {
    constructor(...args) {
      super(...args);
      this.on("message", (data) => frames.push(JSON.parse(String(data))));
    }
  }
  const alice = client(a);
  const bob = client(b, undefined, Recording);
  const carol = client(c);
  await Promise.all([alice.connect(), bob.connect(), carol.connect()]);
  await until(() => [alice, bob, carol].every((x) => x.status === "open"), "three sockets open");
  const created = await alice.rest.call("channels_create", { body: { type: "group", name: "crowd", members: [b, c] } });
  const channel = created.channel.id;
  await until(() => bob.state.channels.has(channel) && carol.state.channels.has(channel), "the channel");
  await alice.send(channel, { text: "first" });
  const rest = ["two", "three", "four", "five"];
  for (const text of rest) await alice.send(channel, { text });
  await until(() => texts(bob, channel).length === 5, "bob to have all five");
  assert.deepEqual(texts(bob, channel), ["first", ...rest]);
  const batches = frames.filter((f) => f.type === "batch");
  assert.ok(batches.length >= 1, `a batch frame among ${frames.map((f) => f.type)}`);
  const batched = batches.flatMap((f) => f.events.map((e) => e.type));
  assert.ok(batched.filter((t) => t === "message.new").length >= 2, `batched: ${batched}`);
  assert.equal(bob.state.channels.get(channel).unread, 5);
  alice.disconnect();
  bob.disconnect();
  carol.disconnect();
});
