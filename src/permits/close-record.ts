import proto from '@temporalio/proto';
import type { TemporalRpc } from './temporal-rpc.js';

type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;

/** The history filter that asks for a run's close event only. */
export const CLOSE_EVENT_ONLY = proto.temporal.api.enums.v1.HistoryEventFilterType.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT;

/**
 * The event that closed the run (completed, terminated, timed out, …), which records who ended it
 * and why; undefined while the run is still open. One call, no waiting.
 */
export async function closeEventOf(rpc: TemporalRpc, workflowId: string, runId: string): Promise<HistoryEvent | undefined> {
  const { client } = rpc;
  const response = await rpc.call(() =>
    client.workflowService.getWorkflowExecutionHistory({
      namespace: client.options.namespace,
      execution: { workflowId, runId },
      skipArchival: true,
      historyEventFilterType: CLOSE_EVENT_ONLY,
    }),
  );
  return response.history?.events?.[0] ?? undefined;
}

/** True when the run was ended by a terminate that gave exactly this reason. */
export function terminatedWithReason(closeEvent: HistoryEvent | undefined, reason: string): boolean {
  return closeEvent?.workflowExecutionTerminatedEventAttributes?.reason === reason;
}
