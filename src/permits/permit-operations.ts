import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import {
  ApplicationFailure,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type WorkflowExecutionDescription,
} from '@temporalio/client';
import type { Logger } from 'pino';
import type { Metrics, PermitOperation } from '../metrics.js';
import { LEASE_EXPIRED, MAX_HOLD_EXCEEDED, RENEWAL_LIMIT, renewUpdate } from '../temporal/messages.js';
import { actsAsHolder, type Actor } from './actor.js';
import { FORCE_RELEASE_PREFIX, RELEASE_REASON } from './close-reasons.js';
import { closeEventOf, terminatedWithReason } from './close-record.js';
import { maxHoldExceeded, permitEnded, permitNotFound, renewalLimit, type PermitEndState } from './errors.js';
import type { FencingSeqReader } from './fencing-seq.js';
import { endStateOf, isHeld, permitFromRun, type HeldPermit, type Permit } from './permit.js';
import type { PermitIdentity, PermitLocator } from './permit-locator.js';
import type { TemporalRpc } from './temporal-rpc.js';
import { GRPC_NOT_FOUND, grpcCode, isTransientTemporalError, toDomainError } from './temporal-errors.js';

export interface PermitOperationsOptions {
  rpc: TemporalRpc;
  /** Reads the fencing number of a permit this replica did not grant. */
  fencingSeqs: FencingSeqReader;
  locator: PermitLocator;
  /** How long an unknown runId takes to answer 404 (VISIBILITY_LOOKUP_WAIT_MS); a refused caller waits as long. */
  lookupWaitMs: number;
  metrics: Metrics;
  log: Logger;
  /** Told when a release through this replica has freed a slot. */
  slotFreed(workflowId: string): void;
  /** Told when a renewal through this replica has extended a lease. */
  renewed(permit: Permit): void;
  /** Told when a release through this replica has ended a permit that was held. */
  released?(workflowId: string, runId: string): void;
}

/** An admin's release of a permit it does not hold, with the reason it gave. */
export interface ForceRelease {
  reason: string;
}

type Outcome = 'ok' | 'ended' | 'not_found' | 'refused' | 'error';

/** What a holder does with a permit it has: release it, renew it, and check it (the fencing check). */
export class PermitOperations {
  constructor(private readonly options: PermitOperationsOptions) {}

  /**
   * Ends the permit's run; its slot is free for the next acquire as soon as this returns. Only its
   * holder's key or an admin may; anyone else is told permit_not_found. A force-release (admins)
   * records who and why in the run's close record.
   */
  async release(runId: string, actor: Actor, force?: ForceRelease): Promise<void> {
    const { rpc } = this.options;
    const { workflowId } = await this.locateOrThrow(runId, 'release', actor, true);
    // A reason no other terminate gives: the run's close record then says whether this release ended it.
    const id = `(release ${randomUUID()})`;
    const reason = force
      ? `${FORCE_RELEASE_PREFIX}${actor.keyName ?? 'a caller without a key'}: ${force.reason} ${id}`
      : `${RELEASE_REASON} ${id}`;
    try {
      await rpc.call(() => rpc.client.workflow.getHandle(workflowId, runId).terminate(reason));
    } catch (error) {
      if (!(await this.endedByThisRelease(error, workflowId, runId, reason))) {
        throw await this.explainFailure(error, 'release', workflowId, runId);
      }
    }
    this.options.slotFreed(workflowId);
    if (!this.cachedWithinLease(runId)) {
      // The run was open, but its lease may have run out before the terminate (no worker had closed it yet).
      const state = await this.stateOf(workflowId, runId);
      if (state === 'expired') {
        this.count('release', 'ended');
        throw permitEnded(runId, 'expired');
      }
    }
    this.count('release', 'ok');
    if (force) this.options.log.warn({ runId, workflowId, by: actor.keyName, reason: force.reason }, 'permit force-released');
    else this.options.log.info({ runId, workflowId, by: actor.keyName }, 'permit released');
    this.options.released?.(workflowId, runId);
  }

  /**
   * A terminate can take effect and still fail for its caller: its answer is lost to a broken
   * connection or a Temporal restart and the SDK's retry finds the run closed (by that very
   * terminate), or the answer comes after the deadline. Only the run's close record tells this from
   * a permit someone else ended; it is read only after such a failure.
   */
  private async endedByThisRelease(error: unknown, workflowId: string, runId: string, reason: string): Promise<boolean> {
    const closed = error instanceof WorkflowNotFoundError;
    if (!closed && !isTransientTemporalError(toDomainError(error))) return false;
    let closeEvent;
    try {
      closeEvent = await closeEventOf(this.options.rpc, workflowId, runId);
    } catch (readError) {
      // Still no answer after a timeout: the timeout is the answer (503), and the caller may retry.
      if (!closed) return false;
      // No record left (retention removed the run): explainFailure says what is known. Any other
      // failure: nobody can say who ended it, so the caller hears 503 and may retry.
      if (grpcCode(readError) === GRPC_NOT_FOUND) return false;
      this.count('release', 'error');
      throw toDomainError(readError);
    }
    if (!terminatedWithReason(closeEvent, reason)) return false;
    this.options.log.info({ runId, workflowId }, 'the release took effect, though its first answer was lost');
    return true;
  }

  /** Extends the lease to now + leaseMs (default: the permit's lease length). */
  async renew(runId: string, leaseMs: number | undefined, actor: Actor): Promise<HeldPermit> {
    const { rpc } = this.options;
    const { workflowId } = await this.locateOrThrow(runId, 'renew', actor, true);
    // The renew update needs a worker to answer; a run whose lease has run out may have none, so
    // that case is settled by a describe (which needs no worker) instead of waiting for a timeout.
    const before = this.cachedWithinLease(runId) ?? (await this.describeHeld(workflowId, runId, 'renew'));
    let renewed: { leaseMs: number; expiresAt: string };
    try {
      renewed = await rpc.call(() =>
        rpc.client.workflow.getHandle(workflowId, runId).executeUpdate(renewUpdate, { args: [{ leaseMs }] }),
      );
    } catch (error) {
      throw await this.explainFailure(error, 'renew', workflowId, runId);
    }
    const permit: Permit = { ...before, leaseMs: renewed.leaseMs, expiresAt: renewed.expiresAt };
    this.options.locator.remember(permit);
    this.options.renewed(permit);
    this.count('renew', 'ok');
    this.options.log.info({ runId, workflowId, expiresAt: permit.expiresAt }, 'permit renewed');
    return { ...permit, state: 'held' };
  }

  /** The permit as Temporal has it now; ended permits throw permit_ended. This is the fencing-token check. */
  async status(runId: string, actor: Actor): Promise<HeldPermit> {
    const { workflowId } = await this.locateOrThrow(runId, 'status', actor, false);
    const permit = await this.describeHeld(workflowId, runId, 'status');
    this.count('status', 'ok');
    return { ...permit, state: 'held' };
  }

  /**
   * The cached permit when this replica knows its lease is still running. A cached expiry can only be
   * too early (another replica may have renewed since), never too late, so a hit needs no round trip.
   */
  private cachedWithinLease(runId: string): Permit | undefined {
    const cached = this.options.locator.cached(runId);
    return cached && Date.parse(cached.expiresAt) > Date.now() ? cached : undefined;
  }

  private async stateOf(workflowId: string, runId: string): Promise<PermitEndState> {
    const { rpc } = this.options;
    try {
      return endStateOf(await rpc.call(() => rpc.client.workflow.getHandle(workflowId, runId).describe()));
    } catch (error) {
      throw toDomainError(error);
    }
  }

  private async describeHeld(workflowId: string, runId: string, operation: 'renew' | 'status'): Promise<Permit> {
    const { rpc } = this.options;
    // Read alongside the describe, so a permit this replica did not grant costs no extra round trip
    // in time; its failure matters only for a permit that turns out to be held.
    const fencingSeq = this.options.fencingSeqs.of(workflowId, runId);
    void fencingSeq.catch(() => undefined);
    let description: WorkflowExecutionDescription;
    try {
      description = await rpc.call(() => rpc.client.workflow.getHandle(workflowId, runId).describe());
    } catch (error) {
      throw await this.explainFailure(error, operation, workflowId, runId);
    }
    if (isHeld(description)) {
      let permit: Permit;
      try {
        permit = permitFromRun(description, description.memo, await fencingSeq);
      } catch (error) {
        this.count(operation, 'error');
        throw toDomainError(error);
      }
      this.options.locator.remember(permit);
      return permit;
    }
    // A run still open past its lease is waiting for a worker to close it; its holder no longer holds it.
    this.count(operation, 'ended');
    throw permitEnded(runId, endStateOf(description));
  }

  /**
   * Where the permit lives, when this actor may act on it: its key allows the permit's resource and,
   * for release and renew, it is the holder's key or an admin's. Anyone else hears exactly what an
   * unknown runId gets (404 permit_not_found), and no sooner: an unknown runId is answered after the
   * visibility lookup's wait, so a refusal waits as long from the request's start. Tokens cannot be
   * probed that way.
   */
  private async locateOrThrow(runId: string, operation: PermitOperation, actor: Actor, holderOnly: boolean): Promise<PermitIdentity> {
    const startedAt = Date.now();
    let identity: PermitIdentity | undefined;
    try {
      identity = await this.options.locator.locate(runId);
    } catch (error) {
      throw toDomainError(error);
    }
    if (identity && actor.mayUse(identity.resource) && (!holderOnly || actsAsHolder(actor, identity.owner))) return identity;
    if (identity) {
      this.options.log.info({ runId, operation, by: actor.keyName }, 'refused a key that may not act on this permit (answered as not found)');
      await delay(Math.max(0, startedAt + this.options.lookupWaitMs - Date.now()));
    }
    this.count(operation, 'not_found');
    throw permitNotFound(runId);
  }

  /** Turns a failed release/renew/status call into the answer the caller gets. */
  private async explainFailure(error: unknown, operation: PermitOperation, workflowId: string, runId: string): Promise<Error> {
    if (error instanceof WorkflowUpdateFailedError && error.cause instanceof ApplicationFailure) {
      if (error.cause.type === LEASE_EXPIRED) {
        this.count(operation, 'ended');
        return permitEnded(runId, 'expired');
      }
      if (error.cause.type === MAX_HOLD_EXCEEDED) {
        this.count(operation, 'refused');
        return maxHoldExceeded(error.cause.message);
      }
      if (error.cause.type === RENEWAL_LIMIT) {
        this.count(operation, 'refused');
        return renewalLimit(error.cause.message);
      }
    }
    if (!(error instanceof WorkflowNotFoundError)) {
      this.count(operation, 'error');
      return toDomainError(error);
    }
    // The run is closed (or unknown): describe it once to tell released from expired from never existed.
    const { rpc } = this.options;
    try {
      const description = await rpc.call(() => rpc.client.workflow.getHandle(workflowId, runId).describe());
      this.count(operation, 'ended');
      return permitEnded(runId, endStateOf(description));
    } catch (describeError) {
      if (describeError instanceof WorkflowNotFoundError) {
        this.count(operation, 'not_found');
        return permitNotFound(runId);
      }
      return toDomainError(describeError);
    }
  }

  private count(operation: PermitOperation, outcome: Outcome): void {
    this.options.metrics.permitOperations.inc({ operation, outcome });
  }
}
