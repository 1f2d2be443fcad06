import { ChatError } from "./errors.js";
import type { Tokens } from "./rest.js";
import type { ClientFrame, ServerEvent, Ack } from "./generated/socket.js";

/** The WebSocket constructor to use (browsers: the global one). */
export type WebSocketLike = new (url: string) => {
  readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  send(data: string): void;
  close(code?: number): void;
};

export interface SocketOptions {
  /** The socket's URL, as `wss://…/prod` or `ws://127.0.0.1:port`. */
  url: string;
  apiKey: string;
  tokens: Tokens;
  WebSocket?: WebSocketLike;
  /** Reconnect backoff: the first wait's ceiling and the largest, in ms. */
  backoff?: { min: number; max: number };
  /** How long a frame waits for its ack, in ms. */
  timeout?: number;
}

type Pending = { resolve: (ack: Ack) => void; reject: (e: unknown) => void; timer: ReturnType<typeof setTimeout> };

/**
 * One socket that keeps itself connected: it reconnects with jittered
 * exponential backoff, asks for a new token when a connect is refused, and
 * matches every frame to its ack.
 */
export class Socket {
  onevent: (event: ServerEvent) => void = () => {};
  /** Called on every (re)connect, before frames flow. */
  onopen: () => void = () => {};
  onstatus: (status: "connecting" | "open" | "offline") => void = () => {};
  private ws?: InstanceType<WebSocketLike>;
  private pending = new Map<string, Pending>();
  private seq = 0;
  private attempt = 0;
  private refused = false;
  /** The service said the token expired: the next connect gets a new one. */
  private expired = false;
  private stopped = true;
  private timer?: ReturnType<typeof setTimeout>;

  constructor(private readonly options: SocketOptions) {}

  get open(): boolean {
    return this.ws?.readyState === 1;
  }

  start(): void {
    this.stopped = false;
    if (!this.ws && !this.timer) void this.dial();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.ws?.close(1000);
  }

  /** Drops the connection as a network would (it reconnects). */
  drop(): void {
    this.ws?.close(4000);
  }

  /** Sends a frame and resolves with its ack (ok or not). */
  request(frame: ClientFrame): Promise<Ack> {
    const ws = this.ws;
    if (!ws || ws.readyState !== 1) return Promise.reject(new ChatError(0, "disconnected", "the socket is not open"));
    const request_id = `r${++this.seq}`;
    return new Promise<Ack>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(request_id);
        reject(new ChatError(0, "disconnected", "no ack in time"));
        this.drop();
      }, this.options.timeout ?? 15_000);
      this.pending.set(request_id, { resolve, reject, timer });
      ws.send(JSON.stringify({ ...frame, request_id }));
    });
  }

  private async dial(): Promise<void> {
    this.onstatus("connecting");
    let token: string;
    try {
      // A connect refused last time may have been an expired token.
      token = await this.options.tokens.get(this.refused || this.expired);
      this.expired = false;
    } catch {
      return this.retry();
    }
    if (this.stopped) return;
    const Impl = this.options.WebSocket ?? (globalThis as unknown as { WebSocket: WebSocketLike }).WebSocket;
    const url = `${this.options.url}/?api_key=${encodeURIComponent(this.options.apiKey)}&token=${encodeURIComponent(token)}`;
    let ws: InstanceType<WebSocketLike>;
    try {
      ws = new Impl(url);
    } catch {
      // No network (or no WebSocket yet): try again later.
      return this.retry();
    }
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.attempt = 0;
      this.refused = false;
      this.onstatus("open");
      this.onopen();
    };
    ws.onmessage = (message) => {
      let data: { type?: string; request_id?: string; events?: ServerEvent[] };
      try {
        data = JSON.parse(String(message.data));
      } catch {
        return;
      }
      if (data.type === "ack") {
        const waiting = this.pending.get(String(data.request_id));
        if (waiting) {
          this.pending.delete(String(data.request_id));
          clearTimeout(waiting.timer);
          waiting.resolve(data as unknown as Ack);
        }
        // A token refused mid-session: reconnect with a new one.
        if ((data as { error?: { code?: string } }).error?.code === "token_expired") {
          this.expired = true;
          ws.close(4001);
        }
      } else if (data.type === "batch") {
        // Events coalesced by a big channel's fan-out: each as if alone.
        for (const event of data.events ?? []) this.onevent(event);
      } else {
        this.onevent(data as unknown as ServerEvent);
      }
    };
    ws.onerror = () => {};
    ws.onclose = () => {
      if (this.ws === ws) this.ws = undefined;
      for (const [id, waiting] of this.pending) {
        clearTimeout(waiting.timer);
        waiting.reject(new ChatError(0, "disconnected", "the socket closed"));
        this.pending.delete(id);
      }
      this.refused = !opened;
      this.onstatus("offline");
      this.retry();
    };
  }

  private retry(): void {
    if (this.stopped) return;
    const { min, max } = this.options.backoff ?? { min: 500, max: 30_000 };
    // Full jitter: a crowd of clients does not come back at once.
    const wait = Math.random() * Math.min(max, min * 2 ** this.attempt++);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.dial();
    }, wait);
  }
}
