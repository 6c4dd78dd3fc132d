// The lock service as its callers see it: POST /resources/{r}/acquire and DELETE /permits/{runId}.
import { KeepAliveHttp, UnexpectedAnswer } from '../http-client.js';
import type { AcquireRequest, HeldLock, LockClient, LockSystem } from '../lock-client.js';

interface PermitAnswer {
  runId: string;
  workflowId: string;
  slot: number;
  expiresAt: string;
}

export interface HttpHeldLock extends HeldLock {
  runId: string;
  workflowId: string;
  slot: number;
}

/** One caller of the service, with its own keep-alive connection. */
export class HttpLockClient implements LockClient {
  constructor(readonly http: KeepAliveHttp) {}

  async acquire({ resource, capacity, leaseMs, waitMs, signal }: AcquireRequest): Promise<HttpHeldLock> {
    const answer = await this.http.request(
      'POST',
      `/resources/${encodeURIComponent(resource)}/acquire`,
      { capacity, leaseMs, waitMs },
      signal,
    );
    if (answer.status !== 201) throw new UnexpectedAnswer(`acquire ${resource}`, answer);
    const permit = answer.body as PermitAnswer;
    return {
      runId: permit.runId,
      workflowId: permit.workflowId,
      slot: permit.slot,
      expiresAtMs: Date.parse(permit.expiresAt),
      release: () => this.release(permit.runId),
    };
  }

  /** DELETE /permits/{runId}; anything but 204 is an error. */
  async release(runId: string): Promise<void> {
    const answer = await this.http.request('DELETE', `/permits/${runId}`);
    if (answer.status !== 204) throw new UnexpectedAnswer(`release ${runId}`, answer);
  }

  async close(): Promise<void> {
    this.http.close();
  }
}

/** The service at baseUrl; each client gets one persistent connection of its own. */
export function httpServiceSystem(baseUrl: string): LockSystem {
  return {
    name: 'lock service over HTTP',
    connect: async () => new HttpLockClient(new KeepAliveHttp(baseUrl, 1)),
  };
}
