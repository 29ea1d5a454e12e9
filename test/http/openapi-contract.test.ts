// The OpenAPI document the service serves covers every route of the REST contract (API.md), each
// with the method API.md gives, and every operation documents its problem answers.
import test from 'ava';
import { useTestService } from '../support/service.ts';

const svc = useTestService(test);

/** Every route of API.md (../shared/API.md, the contract clients rely on), method and path. */
const contract: readonly [string, string][] = [
  ['post', '/api/v1/auth/register'],
  ['post', '/api/v1/auth/login'],
  ['post', '/api/v1/auth/refresh'],
  ['post', '/api/v1/auth/logout'],
  ['get', '/api/v1/auth/me'],
  ['post', '/api/v1/auth/password'],
  ['post', '/api/v1/auth/api-keys'],
  ['get', '/api/v1/auth/api-keys'],
  ['delete', '/api/v1/auth/api-keys/{id}'],
  ['delete', '/api/v1/auth/me'],
  ['get', '/api/v1/admin/users'],
  ['post', '/api/v1/admin/users/{id}/deactivate'],
  ['post', '/api/v1/admin/users/{id}/activate'],
  ['post', '/api/v1/admin/users/{id}/erase'],
  ['post', '/api/v1/samples'],
  ['get', '/api/v1/samples'],
  ['get', '/api/v1/samples/{id}'],
  ['patch', '/api/v1/samples/{id}'],
  ['put', '/api/v1/samples/{id}'],
  ['delete', '/api/v1/samples/{id}'],
  ['get', '/api/v1/samples/subject/{subjectId}'],
  ['get', '/api/v1/samples/stats/overview'],
  ['get', '/api/v1/samples/{id}/history'],
  ['post', '/api/v1/dialog/conversations'],
  ['get', '/api/v1/dialog/conversations'],
  ['post', '/api/v1/dialog/conversations/{id}/messages'],
  ['get', '/api/v1/dialog/conversations/{id}/messages'],
  ['delete', '/api/v1/dialog/conversations/{id}'],
  ['get', '/api/v1/dialog/usage'],
  ['get', '/api/v1/audit'],
  ['get', '/api/v1/audit/export'],
  ['get', '/api/v1/audit/verify'],
  ['get', '/api/v1/audit/digest'],
  ['get', '/api/v1/audit/keys'],
  ['post', '/api/v1/audit/verify'],
  ['get', '/api/v1/admin/projections'],
  ['post', '/api/v1/admin/projections/{name}/rebuild'],
  ['post', '/api/v1/admin/projections/{name}/resume'],
  ['post', '/api/v1/admin/projections/{name}/skip'],
];

test('every route of API.md is in the OpenAPI document, with its method and problem answers', async (t) => {
  const doc = (await (await fetch(`${svc.url}/api/v1/openapi.json`)).json()) as {
    openapi: string;
    paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
  };
  t.is(doc.openapi, '3.1.0');
  for (const [method, path] of contract) {
    const operation = doc.paths[path]?.[method];
    t.truthy(operation, `${method.toUpperCase()} ${path} is documented`);
    if (operation)
      t.truthy(
        operation.responses['500'] ?? operation.responses['default'],
        `${method.toUpperCase()} ${path} documents its errors`,
      );
  }
});
