import { WorkflowNotFoundError } from '@temporalio/client';
import { PERMIT_WORKFLOW_TYPE } from '../temporal/messages.js';
import { permitWorkflowId } from '../temporal/permit-id.js';
import { actsAsHolder, type Actor } from './actor.js';
import { mapWithConcurrency } from './map-with-concurrency.js';
import { heldPermitOf, isPermitMemo, permitFromRun, type Permit } from './permit.js';
import type { TemporalRpc } from './temporal-rpc.js';
import { toDomainError } from './temporal-errors.js';

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
      return heldPermitOf(await rpc.call(() => rpc.client.workflow.getHandle(permitWorkflowId(resource, slot)).describe()));
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return undefined;
      throw toDomainError(error);
    }
  }

  private async listHeldFromVisibility(resource: string): Promise<Permit[]> {
    const query =
      `WorkflowType = '${PERMIT_WORKFLOW_TYPE}' AND ExecutionStatus = 'Running' ` +
      `AND WorkflowId STARTS_WITH '${permitWorkflowId(resource, 0).slice(0, -1)}'`;
    const held: Permit[] = [];
    try {
      await this.rpc.call(async () => {
        for await (const execution of this.rpc.client.workflow.list({ query })) {
          if (!isPermitMemo(execution.memo) || execution.memo.resource !== resource) continue;
          const permit = permitFromRun(execution, execution.memo);
          if (Date.parse(permit.expiresAt) > Date.now()) held.push(permit);
        }
      });
    } catch (error) {
      throw toDomainError(error);
    }
    return held.sort((a, b) => a.slot - b.slot);
  }
}

/** The permit as the actor may see it: without its token (the key to release it) unless the actor holds it. */
export function shownTo(actor: Actor, permit: Permit): ViewedPermit {
  const { runId, fencingToken, owner, ...rest } = permit;
  return actsAsHolder(actor, owner) ? { runId, fencingToken, ...rest } : rest;
}
