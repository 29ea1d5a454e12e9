// The cause of a command sent over HTTP, for the metadata of the events it appends: the caller
// (or anonymous), the request id (also the correlation id), the traceparent and the change reason.
import type { Context } from 'koa';
import type { CommandCause } from '../eventstore/metadata.ts';
import { changeReason } from './change-reason.ts';
import { stateOf } from './state.ts';

export function commandCause(ctx: Context, bodyReason?: string | null): CommandCause {
  const state = stateOf(ctx);
  const auth = state.auth;
  return {
    actorId: auth?.userId ?? null,
    actorType: auth ? auth.actorType : 'anonymous',
    requestId: state.requestId,
    correlationId: state.requestId,
    causationId: null,
    traceparent: state.traceparent,
    reason: changeReason(ctx, bodyReason),
  };
}
