export { ChatClient, type ClientOptions, type SendInput, type ScheduledEdit, type PollInput } from "./client.js";
export { Rest, Tokens, type TokenProvider, type Quota, type Init, type Reply } from "./rest.js";
export { Socket, type SocketOptions, type WebSocketLike } from "./socket.js";
export { Store, type ChannelState, type Channel, type Message, type ChannelEntry, type ScheduledMessage, type Reminder, type Thread, type Poll } from "./store.js";
export { ChatError } from "./errors.js";
export type { paths, components, operations } from "./generated/rest.js";
export { routes, type OperationId } from "./generated/operations.js";
export type * from "./generated/socket.js";
