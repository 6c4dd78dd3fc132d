import type { LightMyRequestResponse } from 'fastify';

/**
 * LOCK_TEST_URL: a lock service already running (such as the load balancer `npm run cluster` prints),
 * which the black-box test files use instead of starting their own; unset, they start their own.
 */
export const TARGET_URL: string | undefined = process.env.LOCK_TEST_URL?.trim().replace(/\/+$/, '') || undefined;

/** For a test that needs a service with settings of its own: skipped when the tests target a URL. */
export function ownServiceNeeded(settings: string): { skip: string | false } {
  return { skip: TARGET_URL ? `LOCK_TEST_URL is set, and this test needs a service of its own (${settings})` : false };
}

export interface UrlResponse {
  status: number;
  /** JSON when the answer says so, else the text. */
  body: any;
  headers: LightMyRequestResponse['headers'];
}

/**
 * One request to the service at `url`, shaped like app.inject(): JSON in (a string body is sent as
 * it is) and JSON out, redirects not followed.
 */
export async function callUrl(url: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<UrlResponse> {
  const response = await fetch(`${url}${path}`, {
    method,
    redirect: 'manual',
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await response.text();
  const json = (response.headers.get('content-type') ?? '').includes('json') && text !== '';
  return { status: response.status, body: json ? JSON.parse(text) : text, headers: Object.fromEntries(response.headers) };
}
