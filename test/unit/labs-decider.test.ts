// given/when/then specs of the lab decider: roles, the personal lab, and "a lab always keeps one
// manager" (API.md, Labs).
import test from 'ava';
import { labDecider, type LabCommand } from '../../modules/labs/decide.ts';
import type { LabEvent } from '../../modules/labs/events.ts';
import { deciderSpec } from '../support/decider-spec.ts';

const spec = deciderSpec(labDecider);
const now = new Date('2026-11-22T10:00:00Z');
const at = now.toISOString();
const labId = '11111111-1111-4111-8111-111111111111';
const ann = '22222222-2222-4222-8222-222222222222';
const bob = '33333333-3333-4333-8333-333333333333';
const cat = '44444444-4444-4444-8444-444444444444';

const created = (personal = false): LabEvent => ({
  type: 'LabCreated',
  data: { labId, name: personal ? 'Personal lab' : 'Lab', personal, createdBy: ann, createdAt: at },
});
const added = (userId: string, role: 'viewer' | 'technician' | 'manager'): LabEvent => ({
  type: 'MemberAdded',
  data: { labId, userId, role, addedAt: at },
});
const shared = [created(), added(ann, 'manager'), added(bob, 'technician')];

test('create: the creator becomes the only member, as manager', (t) => {
  spec(t)
    .given([])
    .when({ type: 'CreateLab', data: { labId, name: 'Lab', actor: { userId: ann }, now } })
    .then([created(), added(ann, 'manager')]);
});

test('the personal lab is created once; asking again appends nothing', (t) => {
  const ensure: LabCommand = { type: 'EnsurePersonalLab', data: { userId: labId, now } };
  spec(t)
    .given([])
    .when(ensure)
    .then([
      {
        type: 'LabCreated',
        data: { labId, name: 'Personal lab', personal: true, createdBy: labId, createdAt: at },
      },
      added(labId, 'manager'),
    ]);
  spec(t)
    .given([created(true), added(ann, 'manager')])
    .when(ensure)
    .then([]);
});

test('no one can join a personal lab', (t) => {
  spec(t)
    .given([created(true), added(ann, 'manager')])
    .when({ type: 'AddMember', data: { actor: { userId: ann }, userId: bob, role: 'viewer', now } })
    .thenFails({ code: 'personal_lab' });
});

test('a non-member gets not_found; a member below manager gets forbidden', (t) => {
  const rename = (userId: string): LabCommand => ({ type: 'RenameLab', data: { actor: { userId }, name: 'X', now } });
  spec(t).given(shared).when(rename(cat)).thenFails({ code: 'not_found' });
  spec(t).given(shared).when(rename(bob)).thenFails({ code: 'forbidden' });
  spec(t)
    .given(shared)
    .when(rename(ann))
    .then([{ type: 'LabRenamed', data: { labId, from: 'Lab', to: 'X', renamedAt: at } }]);
});

test('the last manager can be neither demoted nor removed', (t) => {
  spec(t)
    .given(shared)
    .when({ type: 'ChangeMemberRole', data: { actor: { userId: ann }, userId: ann, role: 'viewer', now } })
    .thenFails({ code: 'last_manager' });
  spec(t)
    .given(shared)
    .when({ type: 'RemoveMember', data: { actor: { userId: ann }, userId: ann, now } })
    .thenFails({ code: 'last_manager' });
});

test('with a second manager, a manager may step down', (t) => {
  spec(t)
    .given([
      ...shared,
      { type: 'MemberRoleChanged', data: { labId, userId: bob, from: 'technician', to: 'manager', changedAt: at } },
    ])
    .when({ type: 'ChangeMemberRole', data: { actor: { userId: ann }, userId: ann, role: 'viewer', now } })
    .then([{ type: 'MemberRoleChanged', data: { labId, userId: ann, from: 'manager', to: 'viewer', changedAt: at } }]);
});

test('anyone may leave; removing someone else needs manager', (t) => {
  spec(t)
    .given(shared)
    .when({ type: 'RemoveMember', data: { actor: { userId: bob }, userId: bob, now } })
    .then([{ type: 'MemberRemoved', data: { labId, userId: bob, role: 'technician', cause: 'left', removedAt: at } }]);
  spec(t)
    .given(shared)
    .when({ type: 'RemoveMember', data: { actor: { userId: bob }, userId: ann, now } })
    .thenFails({ code: 'forbidden' });
});

test('erasure removes even the last manager; an admin then adds one, and only then', (t) => {
  spec(t)
    .given(shared)
    .when({ type: 'EraseMember', data: { userId: ann, now } })
    .then([{ type: 'MemberRemoved', data: { labId, userId: ann, role: 'manager', cause: 'erased', removedAt: at } }]);
  const orphaned: LabEvent[] = [
    ...shared,
    { type: 'MemberRemoved', data: { labId, userId: ann, role: 'manager', cause: 'erased', removedAt: at } },
  ];
  spec(t)
    .given(orphaned)
    .when({ type: 'AdminAddManager', data: { userId: bob, now } })
    .then([
      { type: 'MemberRoleChanged', data: { labId, userId: bob, from: 'technician', to: 'manager', changedAt: at } },
    ]);
  spec(t)
    .given(shared)
    .when({ type: 'AdminAddManager', data: { userId: cat, now } })
    .thenFails({ code: 'lab_has_manager' });
});
