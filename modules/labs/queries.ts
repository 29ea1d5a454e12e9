// Reads of the labs read model (projections/labs/labs-read-model.ts). Lab-scoped reads check the
// caller's membership themselves: a non-member gets nothing, exactly like an unknown lab.
import type { Knex } from 'knex';
import { countRows, pageByKeyset, type KeysetPage } from '../../platform/database/keyset.ts';
import type { LabRole } from './events.ts';

export interface LabView {
  readonly id: string;
  readonly name: string;
  readonly personal: boolean;
  readonly role: LabRole;
  readonly createdAt: string;
  readonly version: number;
}

export interface MemberView {
  readonly userId: string;
  /** Null once the member's personal data was erased. */
  readonly username: string | null;
  readonly role: LabRole;
  readonly addedAt: string;
}

interface LabRow {
  lab_id: string;
  name: string;
  personal: boolean;
  role: LabRole;
  created_at: Date;
  version: number;
}

const toLabView = (r: LabRow): LabView => ({
  id: r.lab_id,
  name: r.name,
  personal: r.personal,
  role: r.role,
  createdAt: r.created_at.toISOString(),
  version: r.version,
});

/** The caller's labs, oldest first (the personal lab leads), with the caller's role. */
export async function labsOf(
  knex: Knex,
  userId: string,
  page: KeysetPage,
): Promise<{ rows: LabView[]; total: number }> {
  const labs = knex('labs as l')
    .join('lab_members as m', 'm.lab_id', 'l.lab_id')
    .where('m.user_id', userId)
    .select<LabRow[]>('l.lab_id', 'l.name', 'l.personal', 'm.role', 'l.created_at', 'l.version');
  const [rows, total] = await Promise.all([
    pageByKeyset(labs, ['l.created_at', 'l.lab_id'], page),
    countRows(knex('lab_members').where('user_id', userId)),
  ]);
  return { rows: rows.map(toLabView), total };
}

/** The caller's role in a lab; undefined for a non-member (or an unknown lab). */
export async function roleIn(knex: Knex, labId: string, userId: string): Promise<LabRole | undefined> {
  const row = await knex('lab_members')
    .where({ lab_id: labId, user_id: userId })
    .first<{ role: LabRole } | undefined>('role');
  return row?.role;
}

/** The lab with its members, as its member `userId` sees it; undefined for a non-member. */
export async function labWithMembers(
  knex: Knex,
  labId: string,
  userId: string | undefined,
): Promise<(Omit<LabView, 'role'> & { role: LabRole | null; members: MemberView[] }) | undefined> {
  const lab = await knex('labs').where('lab_id', labId).first<Omit<LabRow, 'role'> | undefined>();
  if (!lab) return undefined;
  const members = await membersOf(knex, labId);
  const role = userId === undefined ? null : (members.find((m) => m.userId === userId)?.role ?? undefined);
  if (role === undefined) return undefined;
  return { ...toLabView({ ...lab, role: 'viewer' }), role, members };
}

export async function membersOf(knex: Knex, labId: string): Promise<MemberView[]> {
  const rows = await knex('lab_members as m')
    .leftJoin('identity_users as u', 'u.user_id', 'm.user_id')
    .where('m.lab_id', labId)
    .orderBy([
      { column: 'm.added_at', order: 'asc' },
      { column: 'm.user_id', order: 'asc' },
    ])
    .select<{ user_id: string; username: string | null; status: string | null; role: LabRole; added_at: Date }[]>(
      'm.user_id',
      'u.username',
      'u.status',
      'm.role',
      'm.added_at',
    );
  return rows.map((r) => ({
    userId: r.user_id,
    username: r.status === 'erased' ? null : r.username,
    role: r.role,
    addedAt: r.added_at.toISOString(),
  }));
}

/** The id of an active (not erased) account by username, case-insensitive. */
export async function userIdByUsername(knex: Knex, username: string): Promise<string | undefined> {
  const row = await knex('identity_users')
    .where('username_lower', username.toLowerCase())
    .whereNot('status', 'erased')
    .first<{ user_id: string } | undefined>('user_id');
  return row?.user_id;
}

export interface AdminLabView {
  readonly id: string;
  readonly name: string;
  readonly personal: boolean;
  readonly members: number;
  readonly managers: number;
  readonly createdAt: string;
  readonly version: number;
}

/** Every lab, for an administrator, oldest first, with member and manager counts. */
export async function allLabs(knex: Knex, page: KeysetPage): Promise<{ rows: AdminLabView[]; total: number }> {
  const labs = knex('labs as l').select<(Omit<LabRow, 'role'> & { members: number; managers: number })[]>(
    'l.lab_id',
    'l.name',
    'l.personal',
    'l.created_at',
    'l.version',
    knex.raw('(SELECT count(*)::int FROM lab_members m WHERE m.lab_id = l.lab_id) AS members'),
    knex.raw("(SELECT count(*)::int FROM lab_members m WHERE m.lab_id = l.lab_id AND m.role = 'manager') AS managers"),
  );
  const [rows, total] = await Promise.all([
    pageByKeyset(labs, ['l.created_at', 'l.lab_id'], page),
    countRows(knex('labs')),
  ]);
  return {
    rows: rows.map((r) => ({
      id: r.lab_id,
      name: r.name,
      personal: r.personal,
      members: r.members,
      managers: r.managers,
      createdAt: r.created_at.toISOString(),
      version: r.version,
    })),
    total,
  };
}
