/** What a key may do: read only, acquire and hold permits, or everything (force-release, capacities, key list). */
export const ROLES = ['reader', 'client', 'admin'] as const;

export type Role = (typeof ROLES)[number];
