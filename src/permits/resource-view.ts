import { WorkflowNotFoundError } from '@temporalio/client';
import { PERMIT_WORKFLOW_TYPE, type PermitMemo } from '../temporal/messages.js';
import { permitWorkflowId } from '../temporal/permit-id.js';
import { actsAsHolder, type Actor } from './actor.js';
import type { FencingSeqReader } from './fencing-seq.js';
import { mapWithConcurrency } from './map-with-concurrency.js';
import { isHeld, isPermitMemo, leaseEndMs, permitFromRun, type Permit } from './permit.js';
import type { TemporalRpc } from './temporal-rpc.js';
import { GRPC_NOT_FOUND, grpcCode, toDomainError } from './temporal-errors.js';

/** A holder as a resource view shows it: the token only to the permit's own key and to admins. */
export type ViewedPermit = Omit<Permit, 'runId' | 'fencingToken' | 'owner'> & { runId?: string; fencingToken?: string };

export interface ResourceView {
  resource: string;
  capacity: number;
  held: ViewedPermit[];
  /** "strong" when every slot was read directly, "eventual" when listed from Temporal visibility. */
  consistency: 'strong' | 'eventual';
}

/** Up to this capacity a resource view describes every slot directly instead of asking visibility. */
const DIRECT_VIEW_MAX_CAPACITY = 64;
const DESCRIBES_AT_ONCE = 16;

/** Who holds a resource now: every slot read directly when the capacity is small and known, else visibility. */
export class ResourceViewer {
  constructor(
    private readonly rpc: TemporalRpc,
    private readonly fencingSeqs: FencingSeqReader,
    private readonly resourceCapacities: Record<string, number>,
    /** The capacity in force from the resource's capacity record, when it has one. */
    private readonly capacityInForce: (resource: string) => Promise<number | undefined>,
  ) {}

  /** The permits held on a resource, their tokens shown only to the actor that holds them (and to admins). */
  async view(resource: string, requestedCapacity: number | undefined, actor: Actor): Promise<ResourceView> {
    const view = await this.viewAll(resource, requestedCapacity);
    return { ...view, held: view.held.map((permit) => shownTo(actor, permit)) };
  }

  private async viewAll(resource: string, requestedCapacity: number | undefined): Promise<Omit<ResourceView, 'held'> & { held: Permit[] }> {
    const capacity = this.resourceCapacities[resource] ?? requestedCapacity ?? (await this.capacityInForce(resource));
    if (capacity !== undefined && capacity <= DIRECT_VIEW_MAX_CAPACITY) {
      const slots = Array.from({ length: capacity }, (_, slot) => slot);
      const held = await mapWithConcurrency(slots, DESCRIBES_AT_ONCE, (slot) => this.describeSlot(resource, slot));
      return { resource, capacity, held: held.filter((permit): permit is Permit => !!permit), consistency: 'strong' };
    }
    const held = await this.listHeldFromVisibility(resource);
    const capacityOfHolders = held.reduce((max, permit) => Math.max(max, permit.capacity), 0);
    return { resource, capacity: capacity ?? (capacityOfHolders || 1), held, consistency: 'eventual' };
  }

  private async describeSlot(resource: string, slot: number): Promise<Permit | undefined> {
    const { rpc } = this;
    try {
      const run = await rpc.call(() => rpc.client.workflow.getHandle(permitWorkflowId(resource, slot)).describe());
      if (!isHeld(run)) return undefined;
      return permitFromRun(run, run.memo, await this.fencingSeqs.of(run.workflowId, run.runId));
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return undefined;
      throw toDomainError(error);
    }
  }

  private async listHeldFromVisibility(resource: string): Promise<Permit[]> {
    const query =
      `WorkflowType = '${PERMIT_WORKFLOW_TYPE}' AND ExecutionStatus = 'Running' ` +
      `AND WorkflowId STARTS_WITH '${permitWorkflowId(resource, 0).slice(0, -1)}'`;
    const listed: Array<Parameters<typeof permitFromRun>[0] & { memo: PermitMemo }> = [];
    try {
      await this.rpc.call(async () => {
        for await (const execution of this.rpc.client.workflow.list({ query })) {
          if (!isPermitMemo(execution.memo) || execution.memo.resource !== resource) continue;
          if (leaseEndMs(execution.startTime, execution.memo) > Date.now()) listed.push({ ...execution, memo: execution.memo });
        }
      });
      const held = await mapWithConcurrency(listed, DESCRIBES_AT_ONCE, async (run) => {
        try {
          return permitFromRun(run, run.memo, await this.fencingSeqs.of(run.workflowId, run.runId));
        } catch (error) {
          // Visibility lags: a run it still lists may be gone from the history store.
          if (grpcCode(error) === GRPC_NOT_FOUND) return undefined;
          throw error;
        }
      });
      return held.filter((permit): permit is Permit => !!permit).sort((a, b) => a.slot - b.slot);
    } catch (error) {
      throw toDomainError(error);
    }
  }
}

/** The permit as the actor may see it: without its token (the key to release it) unless the actor holds it. */
export function shownTo(actor: Actor, permit: Permit): ViewedPermit {
  const { runId, fencingToken, owner, ...rest } = permit;
  return actsAsHolder(actor, owner) ? { runId, fencingToken, ...rest } : rest;
}
