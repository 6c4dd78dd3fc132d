import { existsSync } from 'node:fs';
import type { z } from 'zod';
import {
  AcquiredPermitSchema,
  ErrorSchema,
  HeldPermitSchema,
  HistoryPageSchema,
  ResourceListSchema,
  ResourceViewSchema,
} from '../wire/schemas.js';
import { LockServiceError, LockServiceUnreachableError } from './errors.js';
import { fetchTrustingCa } from './https-fetch.js';
import type { HeldPermit, HistoryPage, Permit, ResourceList, ResourceView } from './types.js';
import { withPermit, type PermitWork, type WithPermitOptions } from './with-permit.js';

export interface LockClientOptions {
  /** Base URL of the lock service, e.g. http://127.0.0.1:8080. */
  url: string;
  /** The API key, sent as `authorization: Bearer <key>` (the service checks it when it has API_KEYS_FILE). */
  apiKey?: string | undefined;
  /** A fetch to use instead of the global one (a proxy agent, instrumentation). */
  fetch?: typeof fetch | undefined;
  /**
   * A PEM file of the CA that signed an https:// service's certificate, when the system does not trust
   * it. Default: the file the environment variable PERMIT_CA_FILE names, if any, as for the CLI and the
   * Python and Go clients. Neither is read when `fetch` is given. A file that does not exist makes the
   * constructor throw, naming `caFile` or `PERMIT_CA_FILE`.
   */
  caFile?: string | undefined;
  /** How long one request may take, not counting the time an acquire waits on the server; default 10 s. */
  timeoutMs?: number | undefined;
}

export interface RequestOptions {
  /** Aborts the request; the promise rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
  /** Overrides the client's timeoutMs for this request. */
  timeoutMs?: number | undefined;
}

export interface AcquireOptions extends RequestOptions {
  /** Holders allowed at once; default: the resource's configured capacity, else 1. */
  capacity?: number | undefined;
  /** Lease length in ms (1000..the server's MAX_LEASE_MS); default: the server's DEFAULT_LEASE_MS. */
  leaseMs?: number | undefined;
  /**
   * How long to wait for a free slot, in ms; 0 (default) tries once, Infinity waits until a slot frees.
   * Longer than maxWaitPerRequestMs becomes several waiting requests in a row. A service whose
   * MAX_WAIT_MS is shorter than that is asked without a server-side wait, pausing as Retry-After says.
   */
  waitMs?: number | undefined;
  /** Who holds the permit, for people reading (at most 256 characters). */
  holder?: string | undefined;
  /** The longest wait one request asks the server for; must not exceed its MAX_WAIT_MS. Default 60 s. */
  maxWaitPerRequestMs?: number | undefined;
}

export interface RenewOptions extends RequestOptions {
  /** New lease length from now, in ms; default: the length the permit was acquired with. */
  leaseMs?: number | undefined;
}

export interface HoldersOptions extends RequestOptions {
  /** Capacity to inspect, for a resource without a configured capacity (up to 64 reads every slot directly). */
  capacity?: number | undefined;
}

export interface HistoryOptions extends RequestOptions {
  /** Permits per page, 1..100; default 20. */
  limit?: number | undefined;
  /** Only permits that ended before this: the `nextBefore` of the previous page. */
  before?: string | undefined;
}

export interface ResourcesOptions extends RequestOptions {
  /** Only resources whose names start with this. */
  prefix?: string | undefined;
  /** Resources per page, 1..500; default 100. */
  limit?: number | undefined;
  /** The `nextCursor` of the previous page. */
  cursor?: string | undefined;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_WAIT_PER_REQUEST_MS = 60_000;
/** When a refusal carries no Retry-After, the pause before asking again. */
const DEFAULT_RETRY_AFTER_SECONDS = 1;

interface Answer {
  status: number;
  body: unknown;
  retryAfterSeconds: number | undefined;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', aborted);
      resolve();
    };
    const aborted = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', aborted, { once: true });
  });
}

/** Retry-After is either delay-seconds or an HTTP date. */
function parseRetryAfter(header: string | null): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim());
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

/** The service names the offending field first (`body.waitMs: Too big: …`); only waitMs is ours to change. */
function refusesWaitMs(error: LockServiceError): boolean {
  return error.code === 'invalid_request' && /^body\.waitMs:/.test(error.message);
}

function describeNetworkFailure(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
}

/** A service from before `waitedMs` does not send it; its lease is then counted from the request's sending, early but safe. */
const AcquireAnswerSchema = AcquiredPermitSchema.partial({ waitedMs: true });

/** The fetch for a client given no fetch of its own: one trusting the CA file given, else PERMIT_CA_FILE's, else the global one. */
function fetchFor(caFile: string | undefined): typeof fetch {
  const [option, file] = caFile ? ['caFile', caFile] : ['PERMIT_CA_FILE', process.env.PERMIT_CA_FILE?.trim()];
  if (!file) return globalThis.fetch;
  // Told now, as the Python and Go clients do, rather than as an unreachable service at the first request.
  if (!existsSync(file)) throw new TypeError(`${option}: ${file} does not exist`);
  return fetchTrustingCa({ caFile: file });
}

/** A typed client of the lock service's HTTP API. Every method throws LockServiceError or LockServiceUnreachableError. */
export class LockClient {
  readonly url: string;
  private readonly apiKey: string | undefined;
  private readonly fetch: typeof fetch;
  private readonly timeoutMs: number;
  /** For each permit this client returned from acquire or renew, the local time its lease counts from. */
  private readonly leaseStarts = new WeakMap<Permit, number>();

  constructor(options: LockClientOptions) {
    let parsed: URL;
    try {
      parsed = new URL(options.url);
    } catch {
      throw new TypeError(`url: "${options.url}" is not a URL; expected something like http://127.0.0.1:8080`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new TypeError(`url: "${options.url}" must start with http:// or https://`);
    }
    if (parsed.username || parsed.password) {
      // fetch refuses such URLs, and messages quote the URL: credentials belong in apiKey.
      throw new TypeError('url: must not contain a user name or password; pass a key as apiKey instead');
    }
    this.url = parsed.href.replace(/\/+$/, '');
    this.apiKey = options.apiKey || undefined;
    this.fetch = options.fetch ?? fetchFor(options.caFile);
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /**
   * Claims a slot of the resource. Waits up to `waitMs` (asking again after each refusal, after the
   * server's Retry-After when it did not wait itself), then throws LockServiceError `resource_busy`
   * with `retryAfterSeconds`.
   */
  async acquire(resource: string, options: AcquireOptions = {}): Promise<Permit> {
    const waitMs = options.waitMs ?? 0;
    if (!(waitMs >= 0)) throw new RangeError(`waitMs: ${waitMs} must be 0 or more (Infinity waits without limit)`);
    let perRequestMs = options.maxWaitPerRequestMs ?? DEFAULT_MAX_WAIT_PER_REQUEST_MS;
    const deadline = Date.now() + waitMs;
    for (;;) {
      const requestWaitMs = Math.max(0, Math.floor(Math.min(deadline - Date.now(), perRequestMs)));
      try {
        return await this.acquireOnce(resource, options, requestWaitMs);
      } catch (error) {
        if (error instanceof LockServiceError && requestWaitMs > 0 && refusesWaitMs(error)) {
          // This service allows shorter waits (its MAX_WAIT_MS): wait on this side instead.
          perRequestMs = 0;
          continue;
        }
        if (!(error instanceof LockServiceError) || !error.retryable) throw error;
        const remainingMs = deadline - Date.now();
        if (remainingMs <= 0) throw error;
        // A busy answer after a server-side wait means "still busy": ask again at once. Any other
        // refusal (busy without waiting, 503) asks for a pause first.
        const waited = error.code === 'resource_busy' && requestWaitMs > 0;
        const pauseMs = waited ? 0 : (error.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS) * 1000;
        await sleep(Math.min(pauseMs, remainingMs), options.signal);
      }
    }
  }

  private async acquireOnce(resource: string, options: AcquireOptions, waitMs: number): Promise<Permit> {
    const body = {
      ...(options.capacity !== undefined && { capacity: options.capacity }),
      ...(options.leaseMs !== undefined && { leaseMs: options.leaseMs }),
      ...(options.holder !== undefined && { holder: options.holder }),
      waitMs,
    };
    const sentAtMs = Date.now();
    const answer = await this.request('POST', `/resources/${encodeURIComponent(resource)}/acquire`, {
      body,
      signal: options.signal,
      timeoutMs: (options.timeoutMs ?? this.timeoutMs) + waitMs,
    });
    const { waitedMs = 0, ...permit } = this.expect(answer, 201, AcquireAnswerSchema);
    // The service began the lease after it had the request for waitedMs: never later than its answer says.
    this.leaseStarts.set(permit, sentAtMs + waitedMs);
    if (options.signal?.aborted) {
      // Granted as the caller gave up: nobody would hold it, so it must not wait for its lease to end.
      await this.release(permit.runId).catch(() => undefined);
      throw options.signal.reason;
    }
    return permit;
  }

  /** Ends the permit; its slot is free for the next acquire as soon as this returns. */
  async release(runId: string, options: RequestOptions = {}): Promise<void> {
    const answer = await this.request('DELETE', `/permits/${encodeURIComponent(runId)}`, options);
    this.expect(answer, 204, undefined);
  }

  /** Extends the lease to now + leaseMs; throws `permit_ended` (410) if it has already ended. */
  async renew(runId: string, options: RenewOptions = {}): Promise<HeldPermit> {
    const body = options.leaseMs === undefined ? {} : { leaseMs: options.leaseMs };
    const sentAtMs = Date.now();
    const answer = await this.request('POST', `/permits/${encodeURIComponent(runId)}/renew`, { ...options, body });
    const permit = this.expect(answer, 200, HeldPermitSchema);
    // The service extends the lease from a moment after it received the request.
    this.leaseStarts.set(permit, sentAtMs);
    return permit;
  }

  /**
   * The local time (ms since epoch) from which this client counts the current lease of a permit it
   * returned from acquire or renew: when it sent that request, plus, for an acquire, the time the
   * service says it had the request before the lease began. The service's lease began no earlier, so
   * `leaseCountedFrom(permit) + permit.leaseMs` is never later than the lease's real end, however
   * slowly the answer came back. Undefined for a permit object this client did not return.
   */
  leaseCountedFrom(permit: Permit): number | undefined {
    return this.leaseStarts.get(permit);
  }

  /** The fencing check: the permit if it is held right now, else throws `permit_ended` (410) or `permit_not_found` (404). */
  async status(runId: string, options: RequestOptions = {}): Promise<HeldPermit> {
    const answer = await this.request('GET', `/permits/${encodeURIComponent(runId)}`, options);
    return this.expect(answer, 200, HeldPermitSchema);
  }

  /** The permits held on a resource. */
  async holders(resource: string, options: HoldersOptions = {}): Promise<ResourceView> {
    const query = options.capacity === undefined ? '' : `?capacity=${options.capacity}`;
    const answer = await this.request('GET', `/resources/${encodeURIComponent(resource)}${query}`, options);
    return this.expect(answer, 200, ResourceViewSchema);
  }

  /** The past permits of a resource, newest first; pass `nextBefore` as `before` for the next page. */
  async history(resource: string, options: HistoryOptions = {}): Promise<HistoryPage> {
    const query = new URLSearchParams();
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    if (options.before !== undefined) query.set('before', options.before);
    const search = query.size > 0 ? `?${query}` : '';
    const answer = await this.request('GET', `/resources/${encodeURIComponent(resource)}/history${search}`, options);
    return this.expect(answer, 200, HistoryPageSchema);
  }

  /** The resources that have holders now, by name; pass `nextCursor` as `cursor` for the next page. */
  async resources(options: ResourcesOptions = {}): Promise<ResourceList> {
    const query = new URLSearchParams();
    if (options.prefix) query.set('prefix', options.prefix);
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    if (options.cursor !== undefined) query.set('cursor', options.cursor);
    const search = query.size > 0 ? `?${query}` : '';
    const answer = await this.request('GET', `/resources${search}`, options);
    return this.expect(answer, 200, ResourceListSchema);
  }

  /**
   * Acquires a permit, runs `fn` while renewing it in the background, and always releases it.
   * `fn` gets an AbortSignal that fires (with a PermitLostError) if the permit is lost.
   */
  withPermit<T>(resource: string, fn: PermitWork<T>, options: WithPermitOptions = {}): Promise<T> {
    return withPermit(this, resource, fn, options);
  }

  private async request(
    method: string,
    path: string,
    options: RequestOptions & { body?: unknown },
  ): Promise<Answer> {
    const url = `${this.url}${path}`;
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    if (this.apiKey) headers.authorization = `Bearer ${this.apiKey}`;

    // The caller's signal may cancel the request only until the answer's headers arrive: once the
    // service has answered, its body (perhaps a granted permit) is read, so nothing is lost unseen.
    const controller = new AbortController();
    const timedOut = new LockServiceUnreachableError(`no answer from ${url} within ${timeoutMs} ms`);
    const timer = setTimeout(() => controller.abort(timedOut), timeoutMs);
    const cancel = () => controller.abort(options.signal!.reason);
    if (options.signal?.aborted) cancel();
    options.signal?.addEventListener('abort', cancel, { once: true });
    let response: Response;
    try {
      response = await this.fetch(url, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: controller.signal,
      });
    } catch (error) {
      clearTimeout(timer);
      if (controller.signal.aborted) throw controller.signal.reason;
      throw new LockServiceUnreachableError(`cannot reach the lock service at ${this.url}: ${describeNetworkFailure(error)}`, {
        cause: error,
      });
    } finally {
      options.signal?.removeEventListener('abort', cancel);
    }

    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      if (controller.signal.aborted) throw controller.signal.reason;
      throw new LockServiceUnreachableError(`the answer from ${url} broke off: ${describeNetworkFailure(error)}`, { cause: error });
    } finally {
      clearTimeout(timer);
    }
    let body: unknown = text;
    if ((response.headers.get('content-type') ?? '').includes('json') && text !== '') {
      try {
        body = JSON.parse(text);
      } catch {
        // left as text; expect() reports it as an unexpected answer
      }
    }
    return { status: response.status, body, retryAfterSeconds: parseRetryAfter(response.headers.get('retry-after')) };
  }

  /** The answer's body when it has the expected status and shape, else the error it describes. */
  private expect<T>(answer: Answer, status: number, schema: z.ZodType<T> | undefined): T {
    if (answer.status === status) {
      if (!schema) return undefined as T;
      const parsed = schema.safeParse(answer.body);
      if (parsed.success) return parsed.data;
      const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`).join('; ');
      throw new LockServiceError(
        `the answer (HTTP ${answer.status}) is not what the lock service sends: ${problems}`,
        answer.status,
        'unexpected_response',
      );
    }
    const error = ErrorSchema.safeParse(answer.body);
    if (error.success) {
      const { error: code, message, state, capacity } = error.data;
      throw new LockServiceError(message, answer.status, code, answer.retryAfterSeconds, state, capacity);
    }
    const excerpt = typeof answer.body === 'string' ? answer.body.slice(0, 200) : JSON.stringify(answer.body).slice(0, 200);
    throw new LockServiceError(
      `unexpected answer HTTP ${answer.status} (is ${this.url} the lock service?)${excerpt ? `: ${excerpt}` : ''}`,
      answer.status,
      'unexpected_response',
      answer.retryAfterSeconds,
    );
  }
}
