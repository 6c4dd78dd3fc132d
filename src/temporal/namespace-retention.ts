import { Connection } from '@temporalio/client';
import { msNumberToTs, optionalTsToMs } from '@temporalio/common/lib/time.js';
import type { Logger } from 'pino';

/** The shortest retention Temporal Server 1.29 (the pinned CLI's) accepts for a local namespace. */
export const PINNED_SERVER_MIN_RETENTION_MS = 3_600_000;

/** Longest deletion jitter: Temporal's default, which spreads the deletions of runs closed together. */
const MAX_DELETION_JITTER_MS = 30 * 60_000;

/**
 * A closed run is deleted at its close time plus the retention plus a random jitter of up to
 * `history.retentionTimerJitterDuration` (30 min by default). A tenth of the retention, at most the
 * default, keeps a short retention short: deletion stays within 10% of what was asked.
 */
export function deletionJitterMs(retentionMs: number): number {
  return Math.max(1_000, Math.min(MAX_DELETION_JITTER_MS, Math.round(retentionMs / 10)));
}

/**
 * The embedded server's settings for a retention: the deletion jitter, and, below Temporal's 1 h
 * floor for a local namespace, the floor itself (`system.namespaceMinRetentionLocal`, which servers
 * from 1.32, CLI 1.9.1, honour; Server 1.29 ignores it and refuses the retention, which stops start-up).
 */
export function retentionDynamicConfig(retentionMs: number): Record<string, string> {
  const settings: Record<string, string> = { 'history.retentionTimerJitterDuration': `${deletionJitterMs(retentionMs) / 1000}s` };
  if (retentionMs < PINNED_SERVER_MIN_RETENTION_MS) settings['system.namespaceMinRetentionLocal'] = `${Math.max(1, Math.floor(retentionMs / 1000))}s`;
  return settings;
}

export class RetentionRefusedError extends Error {}

/**
 * Sets the namespace's retention (how long a closed run, a released or expired permit, stays in the
 * database) unless it is already so. The server applies a retention to a run when the run closes, so
 * a change reaches runs that close after it (after the server's namespace cache refreshes, within
 * 10 s); runs closed earlier keep the retention they closed under.
 */
export async function applyNamespaceRetention(
  address: string,
  namespace: string,
  retentionMs: number,
  log: Logger,
): Promise<{ previousMs: number | undefined; changed: boolean }> {
  const connection = await Connection.connect({ address, connectTimeout: 5_000 });
  try {
    const deadline = () => Date.now() + 10_000;
    const described = await connection.withDeadline(deadline(), () => connection.workflowService.describeNamespace({ namespace }));
    const previousMs = optionalTsToMs(described.config?.workflowExecutionRetentionTtl);
    const seconds = Math.max(1, Math.round(retentionMs / 1000));
    if (previousMs === seconds * 1000) return { previousMs, changed: false };
    try {
      await connection.withDeadline(deadline(), () =>
        connection.workflowService.updateNamespace({ namespace, config: { workflowExecutionRetentionTtl: msNumberToTs(seconds * 1000) } }),
      );
    } catch (error) {
      throw new RetentionRefusedError(
        `PERMIT_RETENTION: the Temporal server refused a retention of ${seconds} s for namespace "${namespace}" ` +
          `(${(error as Error).message}). Temporal Server 1.29, which the pinned CLI runs, accepts at least 1h; Server 1.32 (CLI 1.9.1) accepts less.`,
        { cause: error },
      );
    }
    log.info({ namespace, retentionMs: seconds * 1000, previousRetentionMs: previousMs }, 'namespace retention of closed permits set');
    return { previousMs, changed: true };
  } finally {
    await connection.close();
  }
}
