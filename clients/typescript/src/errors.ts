/** A refusal from the service: the REST error body, or a socket ack's error. */
export class ChatError extends Error {
  constructor(
    /** HTTP status (0 for a socket ack). */
    readonly status: number,
    /** The service's error code: `validation_error`, `token_expired`, `rate_limited`... */
    readonly code: string,
    message: string,
    /** Seconds after which a retry can succeed (429, 503). */
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = "ChatError";
  }
}

/** Codes a new token cures. */
export const expired = (code: string): boolean => code === "token_expired";

/** Whether repeating the same request later can succeed. */
export const retryable = (e: unknown): boolean =>
  !(e instanceof ChatError) || e.status === 0 && e.code === "disconnected" || e.status >= 500 || e.status === 429;
