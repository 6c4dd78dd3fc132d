// What this replica believes about the slots of one resource. Only a hint for choosing which slot to
// try next: the atomic workflow start stays the sole judge of "free", so a wrong hint costs a round
// trip or a later grant, never a double grant.

interface BusyMark {
  /** The lease end this replica knows of (it granted or renewed the permit); undefined when unknown. */
  until: number | undefined;
  /** When the slot was last seen held; the least recently verified marks are re-checked first. */
  seenAt: number;
  /** The run holding it, when this replica knows it (it granted or renewed the permit). */
  runId: string | undefined;
}

export interface CandidateLimits {
  /** At most this many slots per pass. */
  maxAttempts: number;
  /** Of those, at most this many slots that are marked busy (re-checking marks that may be stale). */
  maxBusyRechecks: number;
  /** Of those, at most this many slots with no mark at all (a random search); maxAttempts when absent. */
  maxUnmarked?: number;
}

/** Per-resource slot hints: slots freed lately are tried first, slots seen busy last. */
export class SlotHints {
  private readonly busy = new Map<number, BusyMark>();
  /** Slots this replica saw freed (released here, or a watched run closed), oldest first. */
  private readonly freed = new Set<number>();
  /** Slots an acquire on this replica is trying right now; other acquires try them last. */
  private readonly attempting = new Set<number>();

  constructor(readonly capacity: number) {}

  /** The slot is held; `until` is its lease end and `runId` its run when this replica knows them. */
  markBusy(slot: number, now: number, until?: number, runId?: string): void {
    if (slot >= this.capacity) return;
    this.freed.delete(slot);
    this.busy.set(slot, { until, seenAt: now, runId });
  }

  /**
   * The lease end this replica knows for a held slot (it granted or renewed the permit, or described
   * its run), even when that moment has passed; undefined when it knows none.
   */
  knownLeaseEnd(slot: number): number | undefined {
    return this.busy.get(slot)?.until;
  }

  /** The earliest known lease end later than `after`, if any: when a held slot may next need a look. */
  earliestLeaseEndAfter(after: number): number | undefined {
    let earliest: number | undefined;
    for (const { until } of this.busy.values()) {
      if (until !== undefined && until > after && (earliest === undefined || until < earliest)) earliest = until;
    }
    return earliest;
  }

  /** The slot was freed: the next pass tries it first. */
  markFree(slot: number): void {
    if (slot >= this.capacity) return;
    this.busy.delete(slot);
    this.freed.add(slot);
  }

  /**
   * A run of the slot closed (visibility says so): the slot is freed, unless this replica knows it is
   * held by another run, which then started after that close (a slot's runs never overlap). True when
   * the slot is now to be tried first.
   */
  markClosed(slot: number, runId: string): boolean {
    if (slot >= this.capacity) return false;
    const holder = this.busy.get(slot)?.runId;
    if (holder !== undefined && holder !== runId) return false;
    this.markFree(slot);
    return true;
  }

  /** True when a slot was freed since the last pass took it, so a pass now is worth its round trips. */
  hasFreedSlots(): boolean {
    return this.freed.size > 0;
  }

  beginAttempt(slot: number): void {
    this.attempting.add(slot);
  }

  endAttempt(slot: number): void {
    this.attempting.delete(slot);
  }

  /** Busy slots, the ones whose known lease ends soonest first (they free first when nobody renews). */
  busySlotsByExpiry(now: number): number[] {
    return [...this.busy.entries()]
      .filter(([, mark]) => !isLapsed(mark, now))
      .sort(([, a], [, b]) => (a.until ?? Infinity) - (b.until ?? Infinity) || a.seenAt - b.seenAt)
      .map(([slot]) => slot);
  }

  /**
   * The slots to try, in order: freed lately, then never seen busy (or their known lease has ended) in
   * random order, then those marked busy, least recently verified first. Slots another acquire on this
   * replica is trying come last. Lazy, so a search that succeeds early never sorts the busy marks.
   */
  *candidates(now: number, limits: CandidateLimits, random: () => number = Math.random): Generator<number> {
    let offered = 0;
    const deferred: number[] = [];
    for (const slot of this.preferenceOrder(now, limits, random)) {
      if (offered >= limits.maxAttempts) return;
      if (this.attempting.has(slot)) {
        deferred.push(slot);
        continue;
      }
      offered++;
      yield slot;
    }
    for (const slot of deferred) {
      if (offered++ >= limits.maxAttempts) return;
      yield slot;
    }
  }

  private *preferenceOrder(now: number, limits: CandidateLimits, random: () => number): Generator<number> {
    for (const slot of [...this.freed]) {
      // Taken off the list only when offered, so a pass that succeeds early leaves the rest first in line.
      this.freed.delete(slot);
      yield slot;
    }
    const unmarked = limits.maxUnmarked ?? limits.maxAttempts;
    if (unmarked > 0) yield* this.unmarkedSlots(now, unmarked, random);
    if (limits.maxBusyRechecks === 0) return;
    const leastRecentlyChecked = [...this.busy.entries()]
      .filter(([, mark]) => !isLapsed(mark, now))
      .sort(([, a], [, b]) => a.seenAt - b.seenAt)
      .slice(0, limits.maxBusyRechecks);
    for (const [slot] of leastRecentlyChecked) yield slot;
  }

  /** Up to `count` random slots that carry no busy mark (or one whose known lease has ended). */
  private unmarkedSlots(now: number, count: number, random: () => number): number[] {
    const isUnmarked = (slot: number) => {
      const mark = this.busy.get(slot);
      return (!mark || isLapsed(mark, now)) && !this.freed.has(slot);
    };
    // Mostly-free resource: rejection sampling finds free-looking slots without walking all of them.
    if (this.busy.size * 2 < this.capacity) {
      const chosen = new Set<number>();
      for (let tries = 0; chosen.size < count && tries < count * 4; tries++) {
        const slot = Math.floor(random() * this.capacity);
        if (isUnmarked(slot)) chosen.add(slot);
      }
      if (chosen.size >= Math.min(count, this.capacity - this.busy.size)) return [...chosen];
    }
    const unmarked: number[] = [];
    for (let slot = 0; slot < this.capacity; slot++) if (isUnmarked(slot)) unmarked.push(slot);
    // Partial Fisher-Yates: only the first `count` positions need to be random.
    const limit = Math.min(count, unmarked.length);
    for (let i = 0; i < limit; i++) {
      const j = i + Math.floor(random() * (unmarked.length - i));
      [unmarked[i], unmarked[j]] = [unmarked[j]!, unmarked[i]!];
    }
    return unmarked.slice(0, limit);
  }
}

/** A mark whose known lease has ended says nothing any more: the run has ended or been renewed. */
function isLapsed(mark: BusyMark, now: number): boolean {
  return mark.until !== undefined && mark.until <= now;
}

/** Hints for the resources this replica used lately; the least recently used are dropped past the limit. */
export class SlotHintsCache {
  private readonly byResource = new Map<string, SlotHints>();

  constructor(private readonly maxResources = 1_000) {}

  /** The hints for a resource at this capacity (a different capacity starts afresh). */
  get(resource: string, capacity: number): SlotHints {
    let hints = this.byResource.get(resource);
    if (hints) this.byResource.delete(resource);
    if (!hints || hints.capacity !== capacity) hints = new SlotHints(capacity);
    this.byResource.set(resource, hints);
    if (this.byResource.size > this.maxResources) {
      const oldest = this.byResource.keys().next().value;
      if (oldest !== undefined) this.byResource.delete(oldest);
    }
    return hints;
  }

  /** The hints for a resource if this replica has any (no side effects on the LRU order). */
  peek(resource: string): SlotHints | undefined {
    return this.byResource.get(resource);
  }
}
