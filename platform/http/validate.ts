// zod at the HTTP edge: bodies (422 validation_failed), query strings (400 invalid_query) and ids
// (400 invalid_id), each listing every problem in errors[].
import type { Context } from 'koa';
import { z } from 'zod';
import { HttpProblem, type FieldError } from './problem.ts';

export function fieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      return { path: [path, ...issue.keys].filter(Boolean).join('.') || '(body)', message: `Unknown field${issue.keys.length > 1 ? 's' : ''}: ${issue.keys.join(', ')}` };
    }
    return { path: path || '(body)', message: issue.message };
  });
}

export function parseBody<S extends z.ZodType>(ctx: Context, schema: S): z.infer<S> {
  const result = schema.safeParse(ctx.request.body ?? {});
  if (!result.success) throw new HttpProblem(422, 'validation_failed', 'The request body breaks one or more rules.', { errors: fieldErrors(result.error) });
  return result.data;
}

/** Query parameters: unknown ones are refused too, so a typo never silently widens a filter. */
export function parseQuery<S extends z.ZodType>(ctx: Context, schema: S): z.infer<S> {
  const result = schema.safeParse(ctx.query);
  if (!result.success) throw new HttpProblem(400, 'invalid_query', 'The query string has unknown or invalid parameters.', { errors: fieldErrors(result.error) });
  return result.data;
}

export function parseId(value: string | undefined, name = 'id'): string {
  const result = z.uuid().safeParse(value);
  if (!result.success) throw new HttpProblem(400, 'invalid_id', `${name} must be a UUID.`, { errors: [{ path: name, message: 'must be a UUID' }] });
  return result.data.toLowerCase();
}
