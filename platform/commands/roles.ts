// Roles on a ladder, each including the ones below it (viewer < technician < manager), and the
// refusal a route gives: 404 to someone without a role (what they cannot see does not exist for
// them), 403 to a role too low.
import { fail } from './decision.ts';

export interface RoleLadder<R extends string> {
  /** Whether `role` reaches `needed` (no role reaches nothing). */
  readonly atLeast: (role: R | undefined, needed: R) => boolean;
  /** Throws not_found without a role, forbidden below `needed`. */
  readonly require: (role: R | undefined, needed: R) => void;
}

/** `roles` lowest first; `where` names what the role is held in, for the forbidden message. */
export function roleLadder<R extends string>(roles: readonly R[], where: string): RoleLadder<R> {
  const atLeast = (role: R | undefined, needed: R): boolean =>
    role !== undefined && roles.indexOf(role) >= roles.indexOf(needed);
  return {
    atLeast,
    require: (role, needed) => {
      if (role === undefined) fail({ code: 'not_found', message: 'not found' });
      if (!atLeast(role, needed)) fail({ code: 'forbidden', message: `this needs the ${needed} role in ${where}` });
    },
  };
}
