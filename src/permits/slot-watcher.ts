import type { Client } from '@temporalio/client';
import { CLOSE_EVENT_ONLY } from './close-record.js';
import { GRPC_NOT_FOUND, grpcCode } from './temporal-errors.js';

type HistoryRequest = Parameters<Client['workflowService']['getWorkflowExecutionHistory']>[0];
type HistoryResponse = Awaited<ReturnType<Client['workflowService']['getWorkflowExecutionHistory']>>;

// A slot's run closing (released anywhere, lease ended, max hold reached) is the moment a waiter can
// have it. Temporal's history long-poll for the close event tells us that moment without polling.

/** Long enough to outlast the server's long-poll (20 s by default), short enough to notice a dead connection. */
const LONG_POLL_DEADLINE_MS = 60_000;

/**
 * Watches slots for their current run to close, on a connection of its own so that parked long-polls
 * never queue ahead of acquire and release calls. At most `maxWatches` are open at once.
 */
export class SlotWatcher {
  private open = 0;

  constructor(
    private readonly client: Client,
    readonly maxWatches: number,
  ) {}

  /** True while another watch may be opened. */
  hasRoom(): boolean {
    return this.open < this.maxWatches;
  }

  /**
   * Resolves when the run holding `workflowId` now has closed, or at once when no run holds it
   * (closed already, never started). Rejects when aborted or when Temporal cannot be asked.
   */
  async untilClosed(workflowId: string, signal: AbortSignal): Promise<void> {
    this.open++;
    try {
      await this.pollForCloseEvent(workflowId, signal);
    } finally {
      this.open--;
    }
  }

  private async pollForCloseEvent(workflowId: string, signal: AbortSignal): Promise<void> {
    const { connection, options, workflowService } = this.client;
    const request: HistoryRequest = {
      namespace: options.namespace,
      // No runId: the server follows the run that is current when the poll starts, so a run that
      // closes between our failed start and this call is reported at once rather than missed.
      execution: { workflowId },
      waitNewEvent: true,
      skipArchival: true,
      historyEventFilterType: CLOSE_EVENT_ONLY,
    };
    for (;;) {
      let response: HistoryResponse;
      try {
        response = await connection.withAbortSignal(signal, () =>
          connection.withDeadline(Date.now() + LONG_POLL_DEADLINE_MS, () =>
            workflowService.getWorkflowExecutionHistory(request),
          ),
        );
      } catch (error) {
        // The workflow ID has never had a run, so nothing holds the slot.
        if (grpcCode(error) === GRPC_NOT_FOUND) return;
        throw error;
      }
      if (response.history?.events?.length) return;
      request.nextPageToken = response.nextPageToken ?? null;
    }
  }
}
