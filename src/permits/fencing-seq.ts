import type { Metrics } from '../metrics.js';
import type { TemporalRpc } from './temporal-rpc.js';

// The fencing number of a permit is the task ID of its run's WorkflowExecutionStarted event. Temporal
// gives every event of a history shard a task ID from the shard's sequence, and that sequence only
// grows: its block of IDs is taken from the shard's range ID, which every server that acquires the
// shard (a restart, a move to another host) raises in the database before using it. A workflow ID
// always lives on one shard, and a new run of the slot's ID can only be created after the previous
// run's start committed (Temporal refuses a second running run), so every later grant of a slot
// carries a larger number than every earlier one. It is not a documented contract: README, Limits
// ("the fencing number"), says where it stops holding.

const CACHE_LIMIT = 100_000;

/**
 * Reads (and remembers: a run's number never changes) the fencing number of permit runs. One call
 * per run: the first event of its history.
 */
export class FencingSeqReader {
  private readonly known = new Map<string, string>();

  constructor(
    private readonly rpc: TemporalRpc,
    private readonly metrics: Metrics,
  ) {}

  /** Tells the reader a number learned elsewhere. */
  remember(runId: string, fencingSeq: string): void {
    this.known.set(runId, fencingSeq);
    if (this.known.size > CACHE_LIMIT) {
      const oldest = this.known.keys().next().value;
      if (oldest !== undefined) this.known.delete(oldest);
    }
  }

  /** The run's fencing number; throws what the history read throws (NOT_FOUND for an unknown run). */
  async of(workflowId: string, runId: string): Promise<string> {
    const cached = this.known.get(runId);
    if (cached !== undefined) return cached;
    const { client } = this.rpc;
    const stopTimer = this.metrics.fencingSeqReadSeconds.startTimer();
    const response = await this.rpc.call(() =>
      client.workflowService.getWorkflowExecutionHistory({
        namespace: client.options.namespace,
        execution: { workflowId, runId },
        maximumPageSize: 1,
        skipArchival: true,
      }),
    );
    stopTimer();
    const first = response.history?.events?.[0];
    if (!first?.workflowExecutionStartedEventAttributes || first.taskId === null || first.taskId === undefined) {
      throw new Error(`the history of ${workflowId} run ${runId} does not begin with its start event`);
    }
    const fencingSeq = first.taskId.toString();
    this.remember(runId, fencingSeq);
    return fencingSeq;
  }
}
