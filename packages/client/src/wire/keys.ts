import { createHash, randomBytes } from 'node:crypto';

// API keys as the service's key file holds them: `permit keygen` makes them, the service checks them.

/** What a key may do: read only, acquire and hold permits, or everything (force-release, capacities, key list). */
export const ROLES = ['reader', 'client', 'admin'] as const;

export type Role = (typeof ROLES)[number];

/** The hex SHA-256 of a key, as the key file stores it. */
export function sha256Hex(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** A new random key (256 bits, URL-safe) and its SHA-256, for the key file. */
export function generateKey(): { key: string; sha256: string } {
  const key = `lsk_${randomBytes(32).toString('base64url')}`;
  return { key, sha256: sha256Hex(key) };
}
