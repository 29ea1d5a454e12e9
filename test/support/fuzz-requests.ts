// Hostile requests for the route fuzzing (test/reliability/fuzz-routes.test.ts), generated with
// fast-check from the operations of the service's own OpenAPI document. Hostile means: random
// Unicode with C0 controls, U+0000 and lone surrogates (and the invalid UTF-8 that would carry
// them), dates at and past the years 1900 and 9999, huge and odd numbers, forged cursors, deep and
// wide JSON, odd headers and callers. Most requests are plausible in every part but one hostile
// part, so the hostile value gets past the other checks to the code that handles it; the rest are
// hostile throughout.
import fc from 'fast-check';

// --- the operations, from the OpenAPI document ------------------------------------------------

export interface JsonSchema {
  type?: string;
  anyOf?: JsonSchema[];
  format?: string;
  enum?: unknown[];
  example?: unknown;
  properties?: Record<string, JsonSchema>;
}
export interface Param {
  name: string;
  in: string;
  schema?: JsonSchema;
}
export interface Operation {
  method: string;
  path: string;
  pathParams: Param[];
  query: Param[];
  body: JsonSchema | undefined;
}

interface OpenApiOperation {
  parameters?: (Param | { $ref: string })[];
  requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
}

/** Every operation of the document (header parameters are conventions, `$ref`s, fuzzed apart). */
export function operationsOf(doc: { paths: Record<string, Record<string, OpenApiOperation>> }): Operation[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]) => {
      const params = (op.parameters ?? []).filter((p): p is Param => !('$ref' in p));
      return {
        method: method.toUpperCase(),
        path,
        pathParams: params.filter((p) => p.in === 'path'),
        query: params.filter((p) => p.in === 'query'),
        body: op.requestBody?.content?.['application/json']?.schema,
      };
    }),
  );
}

// --- hostile values ----------------------------------------------------------------------------

const SPECIAL_CHARS = [
  ...['\u0000', '\u0001', '\u0008', '\u000b', '\u001b', '\u001f', '\t', '\n', '\r'],
  ...['\ud800', '\udbff', '\udc00', '\udfff', '\u007f', '\u0085', '\u2028', '\u202e', '\ufeff', '\uffff'],
  ...['🧪', 'é', '"', '\\', '%', '/', '.'],
];
export const hostileChar = fc.oneof(
  fc.constantFrom(...SPECIAL_CHARS),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }),
);
const EDGE_DATES = [
  ...['0000-01-01', '0001-01-01', '1899-12-31', '1900-01-01', '9999-12-31', '10000-01-01'],
  ...['+010000-01-01', '-000001-01-01', '2026-02-29', '2024-02-29', '2026-13-01', '2026-00-10'],
];
const EDGE_TIMESTAMPS = [
  ...EDGE_DATES.map((d) => `${d}T00:00:00Z`),
  ...['9999-12-31T23:59:59.999999999Z', '2026-01-01T24:00:00Z', '2026-01-01T00:00:00+14:00'],
  '1900-01-01T00:00:00.000Z',
];
const SPECIAL_STRINGS = [
  ...['', ' ', '\u0000', '\ud800', 'a\udc00', '__proto__', 'constructor', 'toString', "' OR 1=1 --"],
  ...['../../etc/passwd', 'NaN', 'null', '%00', '\\u0000', 'P001', 'P' + '9'.repeat(400), 'x'.repeat(5000)],
];
export const hostileText = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom(...SPECIAL_STRINGS, ...EDGE_DATES, ...EDGE_TIMESTAMPS) },
  { weight: 4, arbitrary: fc.string({ unit: hostileChar, maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: hostileChar, minLength: 200, maxLength: 3000 }) },
);
const hostileNumber = fc.oneof(
  fc.constantFrom(0, -0, -1, 1.5, 2 ** 31, -(2 ** 31) - 1, 2 ** 53, 2 ** 63, -(2 ** 63), 1e308, -1e308, 5e-324),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);
export const hostileJson: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    hostileText,
    hostileNumber,
    fc.constantFrom(null, true, false),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(hostileText, tie('value'), { maxKeys: 4 }),
  ),
})).value;

const unreserved = /[A-Za-z0-9\-._~]/;
/** Percent-encoded UTF-8 (a lone surrogate becomes U+FFFD: `rawBytes` sends what UTF-8 cannot). */
export const percent = (text: string) =>
  [...Buffer.from(text, 'utf8')]
    .map((b) => String.fromCharCode(b))
    .map((c) => (unreserved.test(c) ? c : `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`))
    .join('');
const rawBytes = fc.oneof(
  fc.constantFrom('%00', '%ED%A0%80', '%C0%80', '%FF', '%F0%9F', '%E2%82', '%', '%zz', '%2F', '%5C'),
  fc
    .uint8Array({ maxLength: 12 })
    .map((bytes) => [...bytes].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')),
);
const encodedText = fc.oneof({ weight: 4, arbitrary: hostileText.map(percent) }, { weight: 1, arbitrary: rawBytes });

const base64url = (json: unknown) => Buffer.from(JSON.stringify(json)).toString('base64url');
const zeroId = '00000000-0000-4000-8000-000000000000';
const cursor = fc.oneof(
  fc
    .constantFrom(
      { collectionDate: '0000-01-01', id: zeroId },
      { collectionDate: '9999-12-31', id: zeroId },
      { createdAt: '0000-01-01T00:00:00.000Z', id: zeroId },
      { at: '0000-01-01T00:00:00.000Z', id: zeroId },
      { seq: 1e300 },
      { seq: -1 },
      { seq: 2 ** 40 },
      { commit: '9'.repeat(25), prepare: '1' },
      { commit: '1', prepare: '9223372036854775808' },
      { commit: '-1', prepare: '-1' },
    )
    .map(base64url),
  hostileJson.map(base64url),
  encodedText,
  fc.constant('A'.repeat(600)),
);

const ODD_BUT_TEXT = [
  ...['\t', '\n', '\r', '\u007f', '\u0085', '\u2028', '\u202e', '\ufeff', '\uffff'],
  ...['🧪', 'é', '"', '\\', '%', "'"],
];
/** Unusual text that is still text: it must be accepted and stored (and read back) everywhere. */
const acceptableText = fc.string({
  unit: fc.oneof(fc.constantFrom(...ODD_BUT_TEXT), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 })),
  minLength: 1,
  maxLength: 60,
});

const printable = (maxLength: number) =>
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength });

// --- parts of a request ------------------------------------------------------------------------

const today = new Date().toISOString().slice(0, 10);
const isText = (schema: JsonSchema): boolean => schema.type === 'string' || (schema.anyOf ?? []).some(isText);
const isNumber = (schema: JsonSchema) => schema.type === 'integer' || schema.type === 'number';

function plausibleParam(param: Param, ids: readonly string[]): fc.Arbitrary<string> {
  return param.schema?.format === 'uuid' ? fc.constantFrom(...ids) : fc.constantFrom('P001', 'samples');
}

function hostileParam(param: Param, ids: readonly string[]): fc.Arbitrary<string> {
  if (param.schema?.format !== 'uuid') return encodedText;
  return fc.oneof(
    fc.uuid(),
    fc.constantFrom(...ids).map((id) => id.toUpperCase()),
    encodedText,
  );
}

function plausibleQuery(param: Param): fc.Arbitrary<string | undefined> {
  const schema = param.schema ?? {};
  if (param.name === 'cursor') return fc.constant(undefined);
  if (schema.enum) return fc.constantFrom(...schema.enum.map(String));
  if (schema.format === 'date') return fc.constant(today);
  if (schema.format === 'date-time') return fc.constant(percent(new Date().toISOString()));
  if (schema.type === 'integer') return fc.constantFrom('1', '20', '100');
  return acceptableText.map(percent);
}

const ODD_INTEGERS = ['-1', '0', '101', '1e2', '1e400', '99999999999999999999', 'NaN', '0x10', ''];

function hostileQuery(param: Param): fc.Arbitrary<string> {
  const schema = param.schema ?? {};
  if (param.name === 'cursor') return cursor;
  if (schema.enum) return fc.oneof(fc.constantFrom(...schema.enum.map((v) => String(v).toUpperCase())), encodedText);
  if (schema.format === 'date') return fc.oneof(fc.constantFrom(...EDGE_DATES), encodedText);
  if (schema.format === 'date-time') return fc.oneof(fc.constantFrom(...EDGE_TIMESTAMPS).map(percent), encodedText);
  if (schema.type === 'integer') return fc.oneof(fc.constantFrom(...ODD_INTEGERS), encodedText);
  return encodedText;
}

/** A value a documented body field accepts: its example or enum, unusual but acceptable text, a small number. */
function plausible(schema: JsonSchema): fc.Arbitrary<unknown> {
  // An example date stands for "a recent date": today's keeps meeting rules such as "not older than 10 years".
  const recent = (v: unknown) => (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(v) ? today : v);
  const examples = [schema.example, ...(schema.enum ?? [])].filter((v) => v !== undefined).map(recent);
  if (examples.length > 0) return fc.constantFrom(...examples);
  if (isText(schema)) return acceptableText;
  if (isNumber(schema)) return fc.integer({ min: 0, max: 100 });
  return hostileJson;
}

function hostile(schema: JsonSchema): fc.Arbitrary<unknown> {
  const typed = isNumber(schema) ? hostileNumber : hostileText;
  return fc.oneof({ weight: 3, arbitrary: typed }, { weight: 1, arbitrary: hostileJson });
}

export interface Body {
  readonly text: string;
  /** Deeply nested JSON. */
  readonly deep: boolean;
}
const json = (value: unknown): Body => ({ text: JSON.stringify(value), deep: false });
const fieldsOf = (op: Operation) => Object.entries(op.body?.properties ?? {});
const bodyRecord = (op: Operation, value: (schema: JsonSchema) => fc.Arbitrary<unknown>) =>
  fc.record(Object.fromEntries(fieldsOf(op).map(([name, schema]) => [name, value(schema)])), { requiredKeys: [] });

const RAW_BODIES = [
  ...['{', '[]', 'null', '"x"', '{"a":1e400}', '{"limit":-1e400}', '{"n":123456789012345678901234567890}'],
  ...['{"__proto__":{"admin":true}}', '\ufeff{}', '{"a":"\\ud800"}', '{"a":"\\u0000"}'],
];

/** A whole hostile body: fields of any value with stray ones, any JSON, deep, wide, or not JSON. */
function hostileBody(op: Operation): fc.Arbitrary<Body> {
  const strays = fc.dictionary(hostileText, hostileJson, { minKeys: 1, maxKeys: 2 });
  const extraFields = fc.option(strays, { nil: {}, freq: 3 });
  const anyField = (schema: JsonSchema) => fc.oneof(plausible(schema), hostile(schema));
  const mixed = fc.tuple(bodyRecord(op, anyField), extraFields).map(([known, extra]) => json({ ...known, ...extra }));
  const nested = (n: number, open: string) => open.repeat(n) + (open === '[' ? ']' : '}').repeat(n);
  const deep = fc
    .tuple(fc.integer({ min: 100, max: 30_000 }), fc.constantFrom('[', '{"a":'))
    .map(([n, open]): Body => ({ text: nested(n, open), deep: true }));
  const wideObject = (n: number) => json(Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i])));
  const wideArray = (n: number) => json(Array.from({ length: n * 2 }, () => '\u0000'));
  const wide = fc.integer({ min: 500, max: 3000 }).chain((n) => fc.constantFrom(wideObject(n), wideArray(n)));
  const raw = fc
    .oneof(fc.constantFrom(...RAW_BODIES), fc.string({ unit: hostileChar, maxLength: 60 }))
    .map((text): Body => ({ text, deep: false }));
  return fc.oneof({ weight: 3, arbitrary: mixed }, { weight: 2, arbitrary: hostileJson.map(json) }, deep, wide, raw);
}

const ODD_IF_MATCH = ['"1"', '"2"', '*', 'W/"1"', '"99999999999999999999"', '"-1"', '""'];
const hostileHeaders: Record<string, fc.Arbitrary<string>> = {
  'x-change-reason': fc.oneof(encodedText, printable(600)),
  'if-match': fc.oneof(fc.constantFrom(...ODD_IF_MATCH), printable(20)),
  'idempotency-key': printable(200),
  'x-request-id': printable(200),
  accept: fc.constantFrom('text/event-stream', 'text/html'),
  'content-type': fc.constantFrom(
    'text/plain',
    'application/json; charset=latin1',
    'application/json; charset=utf-16',
    'application/merge-patch+json',
  ),
};

// --- requests ----------------------------------------------------------------------------------

export type Caller = 'user' | 'apiKey' | 'admin' | 'anonymous' | 'forged';

export interface FuzzRequest {
  readonly params: string[];
  /** `name=value` pairs, already percent-encoded. */
  readonly query: string[];
  readonly body: Body | undefined;
  readonly headers: Record<string, string>;
  readonly who: Caller;
}

const present = <T>(values: (T | undefined)[]): T[] => values.filter((v): v is T => v !== undefined);

function plausibleRequest(op: Operation, ids: readonly string[]): fc.Arbitrary<FuzzRequest> {
  const pair = (p: Param) =>
    fc.option(plausibleQuery(p), { nil: undefined }).map((v) => (v === undefined ? undefined : `${p.name}=${v}`));
  return fc.record({
    params: fc.tuple(...op.pathParams.map((p) => plausibleParam(p, ids))),
    query: fc.tuple(...op.query.map(pair)).map(present),
    body: op.body ? bodyRecord(op, plausible).map(json) : fc.constant(undefined),
    headers: fc.constant({}),
    who: fc.constantFrom<Caller>('user', 'user', 'admin', 'apiKey'),
  });
}

type Change = (base: FuzzRequest) => fc.Arbitrary<FuzzRequest>;

/**
 * One part of a plausible request made hostile: a path or query parameter, an unknown parameter,
 * a body field, the whole body, a header, or the caller.
 */
function focused(op: Operation, ids: readonly string[]): fc.Arbitrary<FuzzRequest> {
  const param =
    (p: Param, i: number): Change =>
    (base) =>
      hostileParam(p, ids).map((v) => ({ ...base, params: base.params.map((old, j) => (j === i ? v : old)) }));
  const query =
    (p: Param): Change =>
    (base) =>
      hostileQuery(p).map((v) => {
        const others = base.query.filter((q) => !q.startsWith(`${p.name}=`));
        return { ...base, query: [...others, `${p.name}=${v}`] };
      });
  const unknownQuery: Change = (base) =>
    fc.tuple(encodedText, encodedText).map(([k, v]) => ({ ...base, query: [...base.query, `${k}=${v}`] }));
  const field =
    ([name, schema]: [string, JsonSchema]): Change =>
    (base) =>
      hostile(schema).map((v) => {
        const fields = JSON.parse(base.body?.text ?? '{}') as object;
        return { ...base, body: json({ ...fields, [name]: v }) };
      });
  const body: Change = (base) => hostileBody(op).map((b) => ({ ...base, body: b }));
  const header =
    ([name, value]: [string, fc.Arbitrary<string>]): Change =>
    (base) =>
      value.map((v) => ({ ...base, headers: { ...base.headers, [name]: v } }));
  const caller: Change = (base) =>
    fc.constantFrom<Caller>('anonymous', 'forged', 'apiKey', 'admin').map((who) => ({ ...base, who }));
  const changes: Change[] = [
    ...op.pathParams.map(param),
    ...op.query.map(query),
    unknownQuery,
    ...fieldsOf(op).map(field),
    ...(op.method === 'GET' ? [] : [body]),
    ...Object.entries(hostileHeaders).map(header),
    caller,
  ];
  return fc.tuple(plausibleRequest(op, ids), fc.constantFrom(...changes)).chain(([base, change]) => change(base));
}

/** Hostile throughout. */
function chaotic(op: Operation, ids: readonly string[]): fc.Arbitrary<FuzzRequest> {
  const pair = (p: Param) =>
    fc.option(
      hostileQuery(p).map((v) => `${p.name}=${v}`),
      { nil: undefined },
    );
  const headers = fc
    .record(hostileHeaders, { requiredKeys: [] })
    .map((h) => Object.fromEntries(Object.entries(h).filter(([, v]) => v !== undefined)));
  return fc.record({
    params: fc.tuple(...op.pathParams.map((p) => fc.oneof(plausibleParam(p, ids), hostileParam(p, ids)))),
    query: fc.tuple(...op.query.map(pair)).map(present),
    body: op.method === 'GET' ? fc.constant(undefined) : fc.option(hostileBody(op), { nil: undefined, freq: 4 }),
    headers: headers as fc.Arbitrary<Record<string, string>>,
    who: fc.constantFrom<Caller>('user', 'apiKey', 'admin', 'anonymous', 'forged'),
  });
}

/** Requests for one operation; `ids` are what a path parameter may name (own, others', unknown). */
export function requestsFor(op: Operation, ids: readonly string[]): fc.Arbitrary<FuzzRequest> {
  return fc.oneof({ weight: 3, arbitrary: focused(op, ids) }, { weight: 1, arbitrary: chaotic(op, ids) });
}
