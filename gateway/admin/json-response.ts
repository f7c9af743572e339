// The admin API's JSON responses: indented with a trailing newline (the API is read by people with curl
// as much as by programs), never cached, and one error shape `{ error: { code, message } }`.
import type { Context } from 'hono';
import type { ErrorResponse } from './api-types.js';

export function json(c: Context, body: unknown, status: 200 | 400 | 404 | 500 | 503 = 200): Response {
  return c.body(JSON.stringify(body, null, 2) + '\n', status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
  });
}

export function errorBody(code: string, message: string): ErrorResponse {
  return { error: { code, message } };
}
