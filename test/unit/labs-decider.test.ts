// given/when/then specs of the lab decider: roles, the personal lab, and "a lab always keeps one
// manager" (API.md, Labs).
import test from 'ava';
import { labDecider, type LabCommand } from '../../modules/labs/decide.ts';
import type { LabEvent } from '../../modules/labs/events.ts';
import { at, deciderSpec, fixedIds, now } from '../support/decider-spec.ts';

const spec = deciderSpec(labDecider);
const [labId, ann, bob, cat] = fixedIds(4);

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

const changeRole = (actor: string, userId: string, role: 'viewer' | 'manager'): LabCommand => ({
  type: 'ChangeMemberRole',
  data: { actor: { userId: actor }, userId, role, now },
});
const remove = (actor: string, userId: string): LabCommand => ({
  type: 'RemoveMember',
  data: { actor: { userId: actor }, userId, now },
});
const roleChanged = (userId: string, from: string, to: string) =>
  ({ type: 'MemberRoleChanged', data: { labId, userId, from, to, changedAt: at } }) as LabEvent;
const removed = (userId: string, role: string, cause: string) =>
  ({ type: 'MemberRemoved', data: { labId, userId, role, cause, removedAt: at } }) as LabEvent;

test('the last manager cannot be demoted', (t) => {
  spec(t)
    .given(shared)
    .when(changeRole(ann, ann, 'viewer'))
    .thenFails({ code: 'last_manager' });
});

test('the last manager cannot leave or be removed', (t) => {
  spec(t).given(shared).when(remove(ann, ann)).thenFails({ code: 'last_manager' });
});

test('with a second manager, a manager may step down', (t) => {
  spec(t)
    .given([...shared, roleChanged(bob, 'technician', 'manager')])
    .when(changeRole(ann, ann, 'viewer'))
    .then([roleChanged(ann, 'manager', 'viewer')]);
});

test('anyone may leave', (t) => {
  spec(t)
    .given(shared)
    .when(remove(bob, bob))
    .then([removed(bob, 'technician', 'left')]);
});

test('removing someone else needs manager', (t) => {
  spec(t).given(shared).when(remove(bob, ann)).thenFails({ code: 'forbidden' });
});

test('erasure removes even the last manager; an admin then adds one, and only then', (t) => {
  spec(t)
    .given(shared)
    .when({ type: 'EraseMember', data: { userId: ann, now } })
    .then([removed(ann, 'manager', 'erased')]);
  spec(t)
    .given([...shared, removed(ann, 'manager', 'erased')])
    .when({ type: 'AdminAddManager', data: { userId: bob, now } })
    .then([roleChanged(bob, 'technician', 'manager')]);
  spec(t)
    .given(shared)
    .when({ type: 'AdminAddManager', data: { userId: cat, now } })
    .thenFails({ code: 'lab_has_manager' });
});
