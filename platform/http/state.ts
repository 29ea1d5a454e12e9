// What the HTTP platform keeps on ctx.state for every request.
import type { Logger } from 'pino';

export interface AuthState {
  readonly userId: string;
  readonly username: string;
  readonly role: 'user' | 'admin';
  readonly actorType: 'user' | 'api_key';
  readonly apiKeyId?: string;
  readonly sessionId?: string;
}

export interface AppState {
  requestId: string;
  /** The caller's W3C traceparent, when a valid one was sent. */
  traceparent: string | null;
  log: Logger;
  auth?: AuthState;
}
