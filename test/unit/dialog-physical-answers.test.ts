// Which questions the offline assistant takes as being about one tube, and which reference it
// looks up: the facts are a stub that records the reference asked for.
import test from 'ava';
import type { SampleFacts } from '../../modules/dialog/sample-facts.ts';
import { physicalAnswer } from '../../modules/dialog/physical-answers.ts';

function asked(question: string) {
  const refs: string[] = [];
  const facts: SampleFacts = {
    counts: () => Promise.reject(new Error('not asked')),
    subjectSamples: () => Promise.resolve([]),
    recentSamples: () => Promise.resolve([]),
    findSamples: (_owner, ref) => (refs.push(ref), Promise.resolve([])),
    ancestors: () => Promise.resolve([]),
  };
  return physicalAnswer(question, 'user-1', facts).then((answer) => ({ answer, refs }));
}

for (const [question, ref] of [
  ['Where is VL-LFDVPAUSDB?', 'VL-LFDVPAUSDB'],
  ['where is tube TUBE-001.', 'TUBE-001'],
  ['How much is left of VL-ABCDEFGHJ?', 'VL-ABCDEFGHJ'],
  ['Where did aliquot lab_tube come from?', 'lab_tube'],
] as const) {
  test(`"${question}" looks up ${ref}`, async (t) => {
    const { answer, refs } = await asked(question);
    t.deepEqual(refs, [ref]);
    t.is(answer, `You have no sample ${ref} in your labs.`);
  });
}

for (const question of ['Where is my sample?', 'where is it.', 'How many samples do I have?']) {
  test(`"${question}" is not about one tube`, async (t) => {
    const { answer, refs } = await asked(question);
    t.is(answer, undefined);
    t.deepEqual(refs, []);
  });
}
