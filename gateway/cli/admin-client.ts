// Reads a running gateway's admin API for CLI commands: builds the URL from --admin (a URL or host:port),
// fetches with a timeout, and turns every failure into one GatewayError that says what to try.
import { GatewayError } from '../errors.js';

export const DEFAULT_ADMIN = 'http://127.0.0.1:9990';
const HINT = 'is the gateway running? pass --admin URL (its listen.admin address)';

/** The absolute URL of `path` on the admin API named by `admin`; USAGE error when it is not a URL. */
export function adminUrl(admin: string, path: string): string {
  try {
    return new URL(path, /^[a-z]+:\/\//i.test(admin) ? admin : `http://${admin}`).href;
  } catch {
    throw new GatewayError('USAGE', `--admin ${JSON.stringify(admin)} is not a URL such as ${DEFAULT_ADMIN}`);
  }
}

/** GETs `url` and parses its JSON body; ADMIN_UNREACHABLE with a hint on any failure. */
export async function fetchAdminJson<T>(url: string, timeoutMs = 5_000): Promise<{ text: string; body: T }> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (err as Error).message;
    throw new GatewayError(
      'ADMIN_UNREACHABLE',
      `cannot reach the gateway admin API at ${url} (${why}): ${HINT}`,
      {
        cause: err,
      },
    );
  }
  const text = await response.text();
  if (!response.ok) {
    throw new GatewayError(
      'ADMIN_UNREACHABLE',
      `${url} answered HTTP ${response.status}: is that a weft gateway's admin API? pass --admin URL`,
    );
  }
  try {
    return { text, body: JSON.parse(text) as T };
  } catch {
    throw new GatewayError('ADMIN_UNREACHABLE', `${url} did not answer JSON: ${HINT}`);
  }
}
