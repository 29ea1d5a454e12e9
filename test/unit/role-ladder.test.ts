// A role ladder: each role includes the ones below; no role is 404, a role too low is 403.
import test from 'ava';
import { DomainError } from '../../platform/commands/decision.ts';
import { roleLadder } from '../../platform/commands/roles.ts';

const ladder = roleLadder(['viewer', 'technician', 'manager'] as const, 'the lab');

test('a role reaches itself and the roles below it, never those above; no role reaches nothing', (t) => {
  t.true(ladder.atLeast('manager', 'viewer'));
  t.true(ladder.atLeast('technician', 'technician'));
  t.false(ladder.atLeast('viewer', 'technician'));
  t.false(ladder.atLeast(undefined, 'viewer'));
});

test('require: nothing below the role needed passes; no role is not_found (404), too low forbidden (403)', (t) => {
  t.notThrows(() => ladder.require('manager', 'technician'));
  t.like(
    t.throws(() => ladder.require(undefined, 'viewer'), { instanceOf: DomainError }),
    {
      code: 'not_found',
      status: 404,
    },
  );
  t.like(
    t.throws(() => ladder.require('viewer', 'manager'), { instanceOf: DomainError }),
    {
      code: 'forbidden',
      status: 403,
      message: 'this needs the manager role in the lab',
    },
  );
});
