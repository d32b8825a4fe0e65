// The messages that cross the RPC socket, as zod schemas; the TS types are inferred from them.
import { z } from 'zod';

/** Request ids are chosen by the client, from 1; id 0 marks a reply about the whole connection. */
export const CONNECTION_ID = 0;
const Id = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

export const RpcRequest = z.object({
  id: Id,
  token: z.string(),
  op: z.string().min(1).max(200),
  args: z.unknown().optional(),
  stream: z.boolean().optional(),
});
export type RpcRequest = z.infer<typeof RpcRequest>;

/** Stops a running stream; it carries the token too, since every frame a client sends does. */
export const RpcCancel = z.object({ id: Id, token: z.string(), cancel: z.literal(true) });
export type RpcCancel = z.infer<typeof RpcCancel>;

export const ClientMessage = z.union([RpcCancel, RpcRequest]);
export type ClientMessage = z.infer<typeof ClientMessage>;

export const ErrorValue = z.object({
  code: z.string(),
  message: z.string(),
  details: z.record(z.string(), z.unknown()).optional(),
});
export type ErrorValue = z.infer<typeof ErrorValue>;

export const RpcOk = z.object({ id: Id, ok: z.literal(true), result: z.unknown() });
export const RpcFail = z.object({ id: Id, ok: z.literal(false), error: ErrorValue });
export const RpcItem = z.object({ id: Id, item: z.unknown() });
export const RpcEnd = z.object({ id: Id, end: z.literal(true) });
export type RpcOk = z.infer<typeof RpcOk>;
export type RpcFail = z.infer<typeof RpcFail>;
export type RpcItem = z.infer<typeof RpcItem>;
export type RpcEnd = z.infer<typeof RpcEnd>;

// Order matters: an `item` of undefined must not shadow an ok/error/end reply.
export const ServerMessage = z.union([RpcOk, RpcFail, RpcEnd, RpcItem]);
export type ServerMessage = z.infer<typeof ServerMessage>;

/** What the daemon plugs into the server: plain calls, optional streams, and op discovery. */
export interface RpcHandler {
  call(op: string, args: unknown): Promise<unknown>;
  stream?(op: string, args: unknown, emit: (item: unknown) => void, signal: AbortSignal): Promise<void> | void;
  has(op: string): boolean;
}
