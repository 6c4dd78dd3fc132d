import {
  WorkflowClient,
  WorkflowExecutionAlreadyStartedError,
  compileWorkflowOptions,
  type WorkflowStartOptions,
} from '@temporalio/client';
import { grpcCode } from './temporal-errors.js';

/** gRPC ALREADY_EXISTS: the workflow ID has a running run (the raw call throws it; WorkflowClient.start() maps it). */
const GRPC_ALREADY_EXISTS = 6;

/** A run an eager start created, with its fencing number when the answer carried the first workflow task. */
export interface EagerStart {
  runId: string;
  /** The start event's task ID, from the eager workflow task's history; undefined when Temporal did not start it eagerly. */
  fencingSeq: string | undefined;
}

/**
 * Starts permit runs with Temporal's eager workflow start: the server hands the run's first workflow
 * task back in the start's answer, and the SDK passes it to the worker of the same connection, so no
 * matching dispatch and no poll are needed. The answer's task carries the run's history from its
 * start event, so the fencing number comes with it and needs no history read. It must be made on the
 * worker's NativeConnection; the SDK asks for eager execution only while that worker has a free
 * workflow task slot, and otherwise starts the run as usual (then fencingSeq is undefined).
 *
 * WorkflowClient.start() does not return the start's answer, so this subclass sends the request the
 * SDK builds (createStartWorkflowRequest, its extension point) and reads the answer itself.
 */
export class EagerStarter extends WorkflowClient {
  /** Starts the run; throws WorkflowExecutionAlreadyStartedError when the ID is held, like WorkflowClient.start(). */
  async startEagerly(workflowType: string, options: WorkflowStartOptions): Promise<EagerStart> {
    const request = await this.createStartWorkflowRequest({
      workflowType,
      headers: {},
      options: compileWorkflowOptions({ ...options, args: [...(options.args ?? [])], requestEagerStart: true }),
    });
    try {
      const answer = await this.workflowService.startWorkflowExecution(request);
      const first = answer.eagerWorkflowTask?.history?.events?.[0];
      const fencingSeq = first?.workflowExecutionStartedEventAttributes && first.taskId != null ? first.taskId.toString() : undefined;
      return { runId: answer.runId, fencingSeq };
    } catch (error) {
      if (grpcCode(error) === GRPC_ALREADY_EXISTS) {
        throw new WorkflowExecutionAlreadyStartedError('Workflow execution already started', options.workflowId, workflowType);
      }
      this.rethrowGrpcError(error, 'Failed to start Workflow', { workflowId: options.workflowId });
    }
  }
}
