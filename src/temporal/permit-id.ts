// Pure module: imported by workflow code, so it must stay free of Node APIs and I/O.

/**
 * Resource names become part of a workflow ID (`permit:<resource>:<slot>`), so `:` is excluded,
 * and they travel in URL paths, so only URL-safe characters are allowed.
 */
export const RESOURCE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

const PERMIT_ID_PREFIX = 'permit:';

/** The workflow ID whose single running execution is the permit on one slot. */
export function permitWorkflowId(resource: string, slot: number): string {
  return `${PERMIT_ID_PREFIX}${resource}:${slot}`;
}

/** Splits a permit workflow ID back into resource and slot, or returns undefined for any other ID. */
export function parsePermitWorkflowId(workflowId: string): { resource: string; slot: number } | undefined {
  if (!workflowId.startsWith(PERMIT_ID_PREFIX)) return undefined;
  const rest = workflowId.slice(PERMIT_ID_PREFIX.length);
  const colon = rest.lastIndexOf(':');
  if (colon < 0) return undefined;
  const resource = rest.slice(0, colon);
  const slotText = rest.slice(colon + 1);
  if (!RESOURCE_NAME_PATTERN.test(resource) || !/^\d+$/.test(slotText)) return undefined;
  return { resource, slot: Number(slotText) };
}

/** Fisher-Yates shuffle of 0..count-1 with the given random source (workflow code passes its deterministic one). */
export function shuffledSlots(count: number, random: () => number = Math.random): number[] {
  const slots = Array.from({ length: count }, (_, index) => index);
  for (let i = slots.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [slots[i], slots[j]] = [slots[j]!, slots[i]!];
  }
  return slots;
}
