// zod at the HTTP edge: bodies (422 validation_failed), query strings (400 invalid_query) and
// path parameters (400 invalid_id), each listing every problem in errors[] as { path, message }
// with dotted paths (items.0.name). Use z.strictObject for bodies and queries so unknown fields
// are refused, not silently dropped. Query parameters and text path segments must be text
// (platform/text.ts) before their schema sees them; bodies are checked when parsed (body.ts).
import type { Context } from 'koa';
import { z } from 'zod';
import { textProblem, unsafeTextIn } from '../text.ts';
import { HttpProblem, type FieldError } from './problem.ts';

export function fieldErrors(error: z.ZodError, root = '(body)'): FieldError[] {
  return error.issues.flatMap((issue) => {
    const path = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ path: path ? `${path}.${key}` : key, message: 'Unknown field' }));
    }
    return [{ path: path || root, message: issue.message }];
  });
}

/**
 * The body against its schema; 422 validation_failed with every broken rule. `alsoCheck` (run only
 * when the schema fails) adds a module's own rules over the fields that did have the right type,
 * so one answer lists everything wrong, not the type errors first and the rules on the next try.
 */
export function parseBody<S extends z.ZodType>(
  ctx: Context,
  schema: S,
  alsoCheck?: (raw: unknown) => readonly FieldError[],
): z.infer<S> {
  const raw: unknown = ctx.request.body ?? {};
  const result = schema.safeParse(raw);
  if (!result.success) {
    const errors = fieldErrors(result.error);
    const reported = new Set(errors.map((e) => e.path));
    for (const extra of alsoCheck?.(raw) ?? []) if (!reported.has(extra.path)) errors.push(extra);
    throw new HttpProblem(422, 'validation_failed', 'The request body breaks one or more rules.', { errors });
  }
  return result.data;
}

/** Query parameters: unknown ones are refused too (strict schema), so a typo never silently widens a filter. */
export function parseQuery<S extends z.ZodType>(ctx: Context, schema: S): z.infer<S> {
  const query = ctx.query;
  const unsafe = unsafeTextIn(query, '(query)');
  if (unsafe.length > 0) {
    const detail = 'The query string holds characters that are not text.';
    throw new HttpProblem(400, 'invalid_query', detail, { errors: unsafe });
  }
  const result = schema.safeParse(query);
  if (!result.success)
    throw new HttpProblem(400, 'invalid_query', 'The query string has unknown or invalid parameters.', {
      errors: fieldErrors(result.error, '(query)'),
    });
  return result.data;
}

/** One id path parameter, lower-cased; 400 invalid_id when it is not a UUID. */
export function parseId(value: string | undefined, name = 'id'): string {
  const result = z.uuid().safeParse(value);
  if (!result.success)
    throw new HttpProblem(400, 'invalid_id', `${name} must be a UUID.`, {
      errors: [{ path: name, message: 'must be a UUID' }],
    });
  return result.data.toLowerCase();
}

/**
 * A path segment that is text, not an id (e.g. a subject id), at most `maxLength` characters;
 * 400 invalid_id naming it otherwise.
 */
export function parsePathText(value: string | undefined, name: string, maxLength: number): string {
  const text = value ?? '';
  const problem = textProblem(text) ?? (text.length > maxLength ? `at most ${maxLength} characters` : undefined);
  if (problem) {
    throw new HttpProblem(400, 'invalid_id', `${name} is not valid.`, { errors: [{ path: name, message: problem }] });
  }
  return text;
}

/** All path parameters against a schema (e.g. { id: z.uuid() }); 400 invalid_id when one is bad. */
export function parseParams<S extends z.ZodType>(ctx: { params?: Record<string, string> }, schema: S): z.infer<S> {
  const params = ctx.params ?? {};
  const unsafe = unsafeTextIn(params, '(path)');
  if (unsafe.length > 0)
    throw new HttpProblem(400, 'invalid_id', 'A path parameter holds characters that are not text.', {
      errors: unsafe,
    });
  const result = schema.safeParse(params);
  if (!result.success)
    throw new HttpProblem(400, 'invalid_id', 'A path parameter is not valid.', {
      errors: fieldErrors(result.error, '(path)'),
    });
  return result.data;
}
