import { ChatError, retryable } from "./errors.js";
import { Rest, Tokens, type TokenProvider } from "./rest.js";
import { Socket, type WebSocketLike } from "./socket.js";
import { Store, type Message, type Poll, type Reminder, type ScheduledMessage, type Thread } from "./store.js";
import type { ServerEvent } from "./generated/socket.js";
import type { components } from "./generated/rest.js";

export type SendInput = Omit<components["schemas"]["SendMessage"], "channel_id" | "id" | "user_id" | "scheduled_at">;
export type ScheduledEdit = Omit<components["schemas"]["ScheduledEdit"], "user_id">;
export type PollInput = Omit<components["schemas"]["PollInput"], "user_id">;

export interface ClientOptions {
  /** The REST API's base, as `https://…/prod/api/v1`. */
  url: string;
  /** The socket's URL, as `wss://…/prod`. */
  wsUrl: string;
  apiKey: string;
  /** The user's id (the token's). */
  userId: string;
  /** Gives a token; called again with `true` when one is refused. */
  token: TokenProvider;
  WebSocket?: WebSocketLike;
  fetch?: typeof fetch;
  backoff?: { min: number; max: number };
  /** Mark messages delivered as they arrive (default `true`): one socket
   * frame a second at most, for every channel that received some. */
  markDelivered?: boolean;
}

interface Queued {
  channelId: string;
  input: SendInput & { id: string };
  resolve: (m: Message) => void;
  reject: (e: unknown) => void;
}

/** At most one delivery frame per this long, per connection. */
const DELIVERY_EVERY_MS = 1_000;
/** Channels one delivery frame may carry. */
const DELIVERY_CHANNELS = 30;

/** Events a client remembers to drop repeats (a retried fan-out, a replay). */
const REMEMBERED = 2_000;
/** How far before the last event seen a catch-up starts: events of other
 * instances may arrive out of order; repeats are dropped. */
const OVERLAP_MS = 10_000;

const hexAt = (ms: number) => ms.toString(16).padStart(12, "0") + "0".repeat(20);

/**
 * A user's connection to the chat service: REST for everything, a socket
 * that keeps itself connected, sends that survive a reconnect (each with a
 * client id, so a repeat is stored once), a catch-up after every reconnect,
 * and the state a UI binds to.
 */
export class ChatClient {
  readonly rest: Rest;
  readonly socket: Socket;
  readonly state: Store;
  /** Where a catch-up starts: the newest event id seen. */
  cursor?: string;
  /** `connecting`, `open` or `offline`. */
  status: "connecting" | "open" | "offline" = "offline";
  /** Told of every event as it is applied (socket or catch-up). */
  onevent: (event: ServerEvent) => void = () => {};
  /** Told when the socket connects, opens or goes offline. */
  onstatus: (status: "connecting" | "open" | "offline") => void = () => {};
  /** Told when a catch-up could not replay everything (away too long):
   * the channel list was reloaded; reload open channels' messages. */
  onreload: () => void = () => {};
  private readonly seen = new Set<string>();
  private readonly queue: Queued[] = [];
  private flushing = false;
  /** Channels with messages received since the last delivery frame: the latest of each. */
  private readonly undelivered = new Map<string, string>();
  private deliveryTimer?: ReturnType<typeof setTimeout>;
  private lastDelivery = 0;

  constructor(readonly options: ClientOptions) {
    const tokens = new Tokens(options.token);
    this.rest = new Rest({ url: options.url, apiKey: options.apiKey, tokens, fetch: options.fetch });
    this.socket = new Socket({ url: options.wsUrl, apiKey: options.apiKey, tokens, WebSocket: options.WebSocket, backoff: options.backoff });
    this.state = new Store(options.userId);
    this.socket.onevent = (event) => this.receive(event);
    this.socket.onstatus = (status) => {
      this.status = status;
      this.onstatus(status);
      this.state.changed();
    };
    this.socket.onopen = () => void this.resume();
  }

  /** Loads the channel list, then connects (and stays connected). */
  async connect(): Promise<void> {
    if (!this.cursor) this.cursor = (await this.rest.call("sync_changes", {})).next;
    await this.loadChannels();
    this.socket.start();
  }

  disconnect(): void {
    clearTimeout(this.deliveryTimer);
    this.deliveryTimer = undefined;
    this.socket.stop();
  }

  /** Reloads the channel list with unread counts (every page). */
  async loadChannels(): Promise<void> {
    const entries = [];
    let next: string | null | undefined;
    do {
      const page = await this.rest.call("channels_list", { query: { limit: 100, next: next ?? undefined } });
      entries.push(...page.channels);
      next = page.next;
    } while (next);
    this.state.setChannels(entries, true);
  }

  /** Loads a channel's latest messages (or those `before` one). */
  async loadMessages(channelId: string, before?: string): Promise<Message[]> {
    const page = await this.rest.call("channel_messages", { path: { id: channelId }, query: { before, limit: 50 } });
    this.state.addMessages(channelId, page.messages);
    return page.messages;
  }

  /**
   * Sends a message: shown at once as pending, queued while offline, sent
   * in order when the socket is open; a send cut off by a reconnect is
   * repeated with the same id and stored once.
   */
  send(channelId: string, input: SendInput): Promise<Message> {
    const id = globalThis.crypto.randomUUID();
    return new Promise((resolve, reject) => {
      this.queue.push({ channelId, input: { ...input, id }, resolve, reject });
      void this.flush();
    });
  }

  /** Schedules a message for `at` (10 s to 30 days ahead): it waits in
   * `state.scheduled` until it is sent (then it arrives as `message.new`
   * with the same id) or refused (`status: "failed"`, with `failure`). */
  async schedule(channelId: string, input: SendInput, at: Date): Promise<ScheduledMessage> {
    const body = { ...input, channel_id: channelId, scheduled_at: at.toISOString() };
    const made = (await this.rest.call("send_message", { body })) as { scheduled_message: ScheduledMessage };
    this.state.setScheduled([made.scheduled_message], false);
    return made.scheduled_message;
  }

  /** Loads every scheduled message of the user into `state.scheduled`. */
  async loadScheduled(): Promise<void> {
    const items = [];
    let next: string | null | undefined;
    do {
      const page = await this.rest.call("list_scheduled", { query: { limit: 100, next: next ?? undefined } });
      items.push(...page.scheduled_messages);
      next = page.next;
    } while (next);
    this.state.setScheduled(items, true);
  }

  /** Changes a scheduled message's text, attachments, mentions or time (a failed one given a time is pending again). */
  async reschedule(id: string, change: ScheduledEdit): Promise<ScheduledMessage> {
    const { scheduled_message } = await this.rest.call("edit_scheduled", { path: { id }, body: change });
    this.state.setScheduled([scheduled_message], false);
    return scheduled_message;
  }

  /** Cancels a scheduled message. */
  async cancelScheduled(id: string): Promise<void> {
    await this.rest.call("delete_scheduled", { path: { id } });
    this.state.scheduled.delete(id);
    this.state.changed();
  }

  /** Keeps a message: with `at` (up to 30 days ahead), a reminder, told by
   * `reminder.due` when it comes; without, saved for later. */
  async remind(messageId: string, at?: Date): Promise<Reminder> {
    const body = at ? { remind_at: at.toISOString() } : {};
    const { reminder } = await this.rest.call("create_reminder", { path: { id: messageId }, body });
    this.state.setReminders([reminder], false);
    return reminder;
  }

  /** A reminder's new time, or `null`: saved without one. */
  async changeReminder(messageId: string, at: Date | null): Promise<Reminder> {
    const body = { remind_at: at ? at.toISOString() : null };
    const { reminder } = await this.rest.call("edit_reminder", { path: { id: messageId }, body });
    this.state.setReminders([reminder], false);
    return reminder;
  }

  /** Forgets a reminder or saved message. */
  async deleteReminder(messageId: string): Promise<void> {
    await this.rest.call("delete_reminder", { path: { id: messageId } });
    this.state.reminders.delete(messageId);
    this.state.changed();
  }

  /** Loads the user's reminders and saved messages into `state.reminders`
   * (all of them, or those of one status), and returns them in order:
   * soonest first, then saved ones. */
  async loadReminders(filter?: Reminder["status"]): Promise<Reminder[]> {
    const items: Reminder[] = [];
    let next: string | null | undefined;
    do {
      const page = await this.rest.call("list_reminders", { query: { filter, limit: 100, next: next ?? undefined } });
      items.push(...page.reminders);
      next = page.next;
    } while (next);
    this.state.setReminders(items, !filter);
    return items;
  }

  /** Loads the threads the user takes part in into `state.threads`, and
   * returns them, latest activity first. */
  async loadThreads(): Promise<Thread[]> {
    const items: Thread[] = [];
    let next: string | null | undefined;
    do {
      const page = await this.rest.call("list_threads", { query: { limit: 100, next: next ?? undefined } });
      items.push(...page.threads);
      next = page.next;
    } while (next);
    this.state.setThreads(items, true);
    return items;
  }

  /** Marks a thread read (to its latest reply, or to `replyId`). */
  async markThreadRead(parentId: string, replyId?: string): Promise<Thread> {
    const { thread } = await this.rest.call("mark_thread_read", { path: { id: parentId }, body: replyId ? { message_id: replyId } : {} });
    this.state.setThreads([thread], false);
    return thread;
  }

  /** Makes a poll and sends it in a channel (`text` defaults to its
   * question); the poll is in `state.polls`, kept current by events. */
  async sendPoll(channelId: string, input: PollInput, text?: string): Promise<{ poll: Poll; message: Message }> {
    const { poll } = await this.rest.call("create_poll", { body: input });
    const message = await this.send(channelId, { text: text ?? input.question, poll_id: poll.id });
    this.state.setPoll({ ...poll, channel_id: channelId, message_id: message.id });
    return { poll: this.state.polls.get(poll.id)!, message };
  }

  /** Reads a poll: counts, the user's votes, the latest voters. */
  async loadPoll(pollId: string): Promise<Poll> {
    const { poll } = await this.rest.call("get_poll", { path: { id: pollId } });
    this.state.setPoll(poll);
    return poll;
  }

  /** Votes for an option (in a one-vote poll, instead of the user's vote). */
  async vote(pollId: string, optionId: string): Promise<Poll> {
    const { poll } = await this.rest.call("cast_vote", { path: { id: pollId }, body: { option_id: optionId } });
    this.keepPoll(poll);
    return poll;
  }

  /** Takes back one of the user's votes. */
  async removeVote(pollId: string, voteId: string): Promise<Poll> {
    const { poll } = await this.rest.call("remove_vote", { path: { id: pollId, vote_id: voteId } });
    this.keepPoll(poll);
    return poll;
  }

  /** Adds an option (where the poll takes suggestions, or to one's own poll). */
  async addPollOption(pollId: string, text: string): Promise<Poll> {
    const { poll } = await this.rest.call("suggest_option", { path: { id: pollId }, body: { text } });
    this.keepPoll(poll);
    return poll;
  }

  async closePoll(pollId: string): Promise<Poll> {
    const { poll } = await this.rest.call("close_poll", { path: { id: pollId } });
    this.keepPoll(poll);
    return poll;
  }

  /** An answer's poll: its own votes, with the latest voters known. */
  private keepPoll(poll: Poll): void {
    const known = this.state.polls.get(poll.id);
    this.state.setPoll({ ...poll, latest_votes: known?.latest_votes ?? poll.latest_votes });
  }

  /** Sends still waiting for the socket. */
  get pending(): number {
    return this.queue.length;
  }

  typing(channelId: string, started = true): void {
    if (this.socket.open) {
      void this.socket.request({ action: started ? "typing.start" : "typing.stop", channel_id: channelId }).catch(() => {});
    }
  }

  /** Marks the channel read up to its latest message. */
  async markRead(channelId: string): Promise<void> {
    await this.rest.call("mark_read", { path: { id: channelId }, body: {} });
    const c = this.state.channels.get(channelId);
    if (c) {
      c.unread = 0;
      this.state.changed();
    }
  }

  private receive(event: ServerEvent): void {
    const id = (event as { id?: string }).id;
    if (id) {
      if (this.seen.has(id)) return;
      this.seen.add(id);
      if (this.seen.size > REMEMBERED) this.seen.delete(this.seen.values().next().value!);
      // Event ids and message sort ids sort by time as 32 hex digits.
      const key = id.replace(/-/g, "");
      if (!this.cursor || key > this.cursor) this.cursor = key;
    }
    this.state.apply(event);
    this.noteDelivery(event);
    this.onevent(event);
  }

  /** Another's message in a channel's history arrived: mark it delivered soon. */
  private noteDelivery(event: ServerEvent): void {
    const e = event as { type: string; channel_id?: string; message?: Message };
    const m = e.message;
    if (this.options.markDelivered === false || e.type !== "message.new" || !e.channel_id || !m) return;
    if (m.user?.id === this.options.userId || (m.parent_id && !m.show_in_channel)) return;
    this.undelivered.set(e.channel_id, m.id);
    if (!this.deliveryTimer) {
      const wait = Math.max(0, this.lastDelivery + DELIVERY_EVERY_MS - Date.now());
      this.deliveryTimer = setTimeout(() => void this.sendDeliveries(), wait);
    }
  }

  /** One `channel.mark_delivered` frame for what arrived since the last. */
  private async sendDeliveries(): Promise<void> {
    this.deliveryTimer = undefined;
    if (!this.undelivered.size || !this.socket.open) return;
    const channels = [...this.undelivered].slice(0, DELIVERY_CHANNELS).map(([channel_id, message_id]) => ({ channel_id, message_id }));
    for (const c of channels) this.undelivered.delete(c.channel_id);
    this.lastDelivery = Date.now();
    try {
      await this.socket.request({ action: "channel.mark_delivered", channels });
    } catch {
      // Cut off: a later message marks past these anyway.
    }
    if (this.undelivered.size && !this.deliveryTimer) {
      this.deliveryTimer = setTimeout(() => void this.sendDeliveries(), DELIVERY_EVERY_MS);
    }
  }

  /** On every (re)connect: queued sends go out, then what was missed comes in. */
  private async resume(): Promise<void> {
    await this.flush();
    if (this.undelivered.size && !this.deliveryTimer) void this.sendDeliveries();
    try {
      await this.catchUp();
    } catch {
      // Offline again: the next connect catches up.
    }
  }

  /** Replays what changed since the cursor (GET /sync, every page). */
  async catchUp(): Promise<void> {
    if (!this.cursor) return;
    const since = hexAt(Math.max(0, parseInt(this.cursor.slice(0, 12), 16) - OVERLAP_MS));
    let cursor = since < this.cursor ? since : this.cursor;
    for (;;) {
      const page = await this.rest.call("sync_changes", { query: { since: cursor } });
      if (page.gap) {
        this.cursor = page.next;
        await this.loadChannels();
        this.onreload();
        return;
      }
      for (const id of page.removed_channels) this.state.channels.delete(id);
      if (page.removed_channels.length) this.state.changed();
      for (const event of page.events) this.receive(event as unknown as ServerEvent);
      cursor = page.next;
      if (!this.cursor || page.next > this.cursor) this.cursor = page.next;
      if (!page.has_more) return;
    }
  }

  private async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.queue.length && this.socket.open) {
        const item = this.queue[0]!;
        try {
          const ack = await this.socket.request({ action: "message.send", channel_id: item.channelId, ...item.input });
          this.queue.shift();
          if (ack.ok) {
            const message = (ack.result as { message: Message }).message;
            this.state.addMessages(item.channelId, [message]);
            item.resolve(message);
          } else {
            const e = ack.error!;
            item.reject(new ChatError(0, e.code, e.message, (e as { retry_after?: number }).retry_after));
          }
        } catch (e) {
          // Cut off: it stays first in line and goes again, same id.
          if (!retryable(e)) {
            this.queue.shift();
            item.reject(e);
          }
          break;
        }
      }
    } finally {
      this.flushing = false;
    }
  }
}
