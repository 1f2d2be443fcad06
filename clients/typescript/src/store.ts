import type { components } from "./generated/rest.js";
import type { ServerEvent } from "./generated/socket.js";

export type Channel = components["schemas"]["Channel"];
export type Message = components["schemas"]["Message"];
export type ChannelEntry = components["schemas"]["ChannelEntry"];
export type ScheduledMessage = components["schemas"]["ScheduledMessage"];
export type Reminder = components["schemas"]["Reminder"];
export type Thread = components["schemas"]["Thread"];
export type Poll = components["schemas"]["Poll"];

/** A channel as a UI shows it. */
export interface ChannelState {
  channel: Channel;
  membership?: ChannelEntry["membership"];
  unread: number;
  /** The history loaded or received, oldest first (thread-only replies not included). */
  messages: Message[];
  /** Thread replies by parent id, oldest first. */
  threads: Map<string, Message[]>;
  /** Who read up to which message (from `message.read`). */
  reads: Map<string, string | null>;
  /** Whose devices received up to which message (from `message.delivered`). */
  delivered: Map<string, string | null>;
  /** Who is typing, until when (epoch ms). */
  typing: Map<string, number>;
}

/** How long a `typing.start` shows without a refresh. */
const TYPING_MS = 6_000;

const byId = (a: Message, b: Message) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0);

/** Puts `m` in `list` (replacing the same id), keeping time order. */
function upsert(list: Message[], m: Message): void {
  const at = list.findIndex((x) => x.id === m.id);
  if (at >= 0) list[at] = m;
  else {
    list.push(m);
    list.sort(byId);
  }
}

type Any = Record<string, any>;

/**
 * What the client knows, kept up to date from events: the channel list
 * with unread counts and their total, each channel's messages with threads,
 * reactions and read state, typing and presence. Applying an event twice
 * changes nothing more than applying it once.
 */
export class Store {
  readonly channels = new Map<string, ChannelState>();
  readonly presence = new Map<string, boolean>();
  /** The user's scheduled messages by id: pending, sending or failed. */
  readonly scheduled = new Map<string, ScheduledMessage>();
  /** The user's reminders and saved messages by message id. */
  readonly reminders = new Map<string, Reminder>();
  /** The threads the user takes part in, by parent id, with unread replies. */
  readonly threads = new Map<string, Thread>();
  /** Polls loaded or voted on, by id, kept current by `poll.*` events. */
  readonly polls = new Map<string, Poll>();
  private listeners = new Set<() => void>();

  constructor(public me: string) {}

  /** Calls `listener` after every change; returns how to stop. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get totalUnread(): number {
    let n = 0;
    for (const c of this.channels.values()) n += c.unread;
    return n;
  }

  /** The channel list, last activity first. */
  list(): ChannelState[] {
    const at = (c: ChannelState) => c.channel.last_message_at ?? c.channel.created_at;
    return [...this.channels.values()].sort((a, b) => (at(a) < at(b) ? 1 : at(a) > at(b) ? -1 : 0));
  }

  /** Who is typing in a channel now. */
  typing(channelId: string): string[] {
    const now = Date.now();
    const c = this.channels.get(channelId);
    return c ? [...c.typing].filter(([, until]) => until > now).map(([u]) => u) : [];
  }

  changed(): void {
    for (const l of this.listeners) l();
  }

  private entry(channel: Channel): ChannelState {
    let c = this.channels.get(channel.id);
    if (!c) {
      c = { channel, unread: 0, messages: [], threads: new Map(), reads: new Map(), delivered: new Map(), typing: new Map() };
      this.channels.set(channel.id, c);
    } else c.channel = channel;
    return c;
  }

  /** The channel list as `GET /channels` gave it (replaces what was known of each). */
  setChannels(entries: ChannelEntry[], complete: boolean): void {
    if (complete) {
      const keep = new Set(entries.map((e) => e.channel.id));
      for (const id of this.channels.keys()) if (!keep.has(id)) this.channels.delete(id);
    }
    for (const e of entries) {
      const c = this.entry(e.channel);
      c.membership = e.membership;
      c.unread = e.unread_count;
    }
    this.changed();
  }

  /** Scheduled messages as the API gave them (`complete`: all of them). */
  setScheduled(items: ScheduledMessage[], complete: boolean): void {
    if (complete) this.scheduled.clear();
    for (const s of items) this.scheduled.set(s.id, s);
    this.changed();
  }

  /** Reminders as the API gave them (`complete`: all of them). */
  setReminders(items: Reminder[], complete: boolean): void {
    if (complete) this.reminders.clear();
    for (const r of items) this.reminders.set(r.message_id, r);
    this.changed();
  }

  /** Threads as the API gave them (`complete`: all of them). */
  setThreads(items: Thread[], complete: boolean): void {
    if (complete) this.threads.clear();
    for (const t of items) this.threads.set(t.parent_id, t);
    this.changed();
  }

  /** A poll as the API gave it (with the user's votes and latest voters). */
  setPoll(poll: Poll): void {
    this.polls.set(poll.id, poll);
    this.changed();
  }

  /** A `poll.*` event: new counts; the user's own votes follow theirs. */
  private applyPoll(e: Any): void {
    const known = this.polls.get(e.poll.id);
    let own = known?.own_votes ?? [];
    const vote = e.vote;
    if (vote && vote.user_id === this.me) {
      own = own.filter((v) => v.id !== vote.id);
      if (e.type === "poll.vote_cast") own = [...own, vote];
    }
    let latest = known?.latest_votes ?? [];
    if (vote && vote.user_id) {
      latest = latest.filter((v) => v.id !== vote.id);
      if (e.type === "poll.vote_cast") latest = [vote, ...latest].slice(0, 10);
    }
    this.polls.set(e.poll.id, { ...e.poll, own_votes: own, latest_votes: latest });
    this.changed();
  }

  /** A page of history (oldest first) into the channel. */
  addMessages(channelId: string, messages: Message[]): void {
    const c = this.channels.get(channelId);
    if (!c) return;
    for (const m of messages) this.place(c, m);
    this.changed();
  }

  /** A message as sent or received. */
  private place(c: ChannelState, m: Message): void {
    if (m.parent_id) {
      const thread = c.threads.get(m.parent_id) ?? [];
      upsert(thread, m);
      c.threads.set(m.parent_id, thread);
      if (!m.show_in_channel) return;
    }
    upsert(c.messages, m);
  }

  private find(c: ChannelState, id: string): Message | undefined {
    return c.messages.find((m) => m.id === id) ?? [...c.threads.values()].flat().find((m) => m.id === id);
  }

  private replace(c: ChannelState, id: string, edit: (m: Message) => Message): void {
    const swap = (list: Message[]) => {
      const at = list.findIndex((m) => m.id === id);
      if (at >= 0) list[at] = edit(list[at]!);
    };
    swap(c.messages);
    for (const t of c.threads.values()) swap(t);
  }

  /** Applies one event (socket or catch-up); `false` when it concerned nothing known. */
  apply(event: ServerEvent): boolean {
    const e = event as Any;
    if (e.type === "user.presence.changed") {
      this.presence.set(e.user.id, !!e.user.online);
      this.changed();
      return true;
    }
    if (e.type === "message.scheduled_failed") {
      this.setScheduled([e.scheduled_message], false);
      return true;
    }
    if (e.type === "reminder.due") {
      this.setReminders([e.reminder], false);
      return true;
    }
    if (typeof e.type === "string" && e.type.startsWith("poll.")) {
      this.applyPoll(e);
      return true;
    }
    // A reply in a thread the user takes part in: one more unread.
    const thread = e.type === "message.new" && e.message.parent_id ? this.threads.get(e.message.parent_id) : undefined;
    if (thread && e.message.user?.id !== this.me) {
      this.threads.set(thread.parent_id, { ...thread, unread_replies: thread.unread_replies + 1, last_reply_at: e.message.created_at });
      this.changed();
    }
    // A scheduled message, sent: it keeps its id.
    if (e.type === "message.new" && this.scheduled.delete(e.message.id)) this.changed();
    if (e.type === "notification.added_to_channel") {
      this.entry(e.channel);
      this.changed();
      return true;
    }
    const c = e.channel_id ? this.channels.get(e.channel_id) : undefined;
    if (!c) return false;
    switch (e.type) {
      case "message.new": {
        const m = e.message as Message;
        const known = this.find(c, m.id);
        this.place(c, m);
        const visible = !m.parent_id || m.show_in_channel;
        // A reply of a thread the user takes part in counts in the thread.
        const followed = !!m.parent_id && this.threads.has(m.parent_id);
        if (!known && visible && !followed && m.user?.id !== this.me && m.type !== "deleted") c.unread++;
        if (visible && (!c.channel.last_message_at || m.created_at > c.channel.last_message_at)) {
          c.channel = { ...c.channel, last_message_at: m.created_at };
        }
        c.typing.delete(m.user?.id ?? "");
        break;
      }
      case "message.updated":
        this.place(c, e.message);
        break;
      case "message.deleted":
        if (e.hard) {
          c.messages = c.messages.filter((m) => m.id !== e.message.id);
          for (const [p, t] of c.threads) c.threads.set(p, t.filter((m) => m.id !== e.message.id));
        } else this.place(c, e.message);
        for (const [id, p] of this.polls) if (p.message_id === e.message.id) this.polls.delete(id);
        break;
      case "reaction.new":
      case "reaction.deleted": {
        const mine = (e.reaction?.user_id ?? e.reaction?.user?.id) === this.me;
        const kind = e.reaction?.type;
        this.replace(c, e.message_id, (m) => ({
          ...m,
          reaction_counts: e.reaction_counts,
          own_reactions: !mine
            ? m.own_reactions
            : e.type === "reaction.new"
              ? [...new Set([...(m.own_reactions ?? []), kind])]
              : (m.own_reactions ?? []).filter((k: string) => k !== kind),
        }));
        break;
      }
      case "message.read":
        c.reads.set(e.user.id, e.last_read_message_id ?? null);
        if (e.user.id === this.me) c.unread = 0;
        break;
      case "message.delivered":
        c.delivered.set(e.user.id, e.last_delivered_message_id ?? null);
        break;
      case "typing.start":
        c.typing.set(e.user.id, Date.now() + TYPING_MS);
        break;
      case "typing.stop":
        c.typing.delete(e.user.id);
        break;
      case "member.removed":
        if (e.member.user_id === this.me) this.channels.delete(c.channel.id);
        break;
      case "channel.deleted":
        this.channels.delete(c.channel.id);
        break;
      case "channel.truncated":
        c.messages = [];
        c.threads.clear();
        c.unread = 0;
        c.channel = e.channel;
        break;
      case "channel.updated":
      case "channel.frozen":
      case "channel.unfrozen":
        c.channel = e.channel;
        break;
      default:
        return false;
    }
    this.changed();
    return true;
  }
}
