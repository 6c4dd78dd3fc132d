import { createHash, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs/promises';
import { sha256Hex, generateKey } from 'temporal-lock-client/wire';
import { z } from 'zod';
import { ROLES, type Role } from './roles.js';

// API keys come from a JSON file (API_KEYS_FILE): an array of { name, sha256 | key, role, prefixes }.
// Only the key's SHA-256 is kept in memory; a request's key is hashed and looked up, so checking a
// key costs one hash and one map lookup whatever the number of keys.

export { ROLES, type Role } from './roles.js';
export { generateKey, sha256Hex };

/** A prefix of resource names; "*" stands for every resource. */
const PrefixSchema = z
  .string()
  .regex(/^(\*|[A-Za-z0-9._-]{0,128})$/, 'each prefix is "*" or up to 128 characters of A-Z a-z 0-9 . _ -');

const KeyEntrySchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[A-Za-z0-9._@-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 . _ @ - (it is recorded on permits and logged)'),
    sha256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, 'must be the SHA-256 of the key as 64 hex characters (npm run keygen prints it)')
      .optional(),
    key: z.string().min(16, 'must be at least 16 characters (npm run keygen makes one)').optional(),
    role: z.enum(ROLES, { message: `must be one of ${ROLES.join(', ')}` }),
    prefixes: z.array(PrefixSchema).min(1, 'must name at least one prefix ("*" for every resource)').optional(),
  })
  .superRefine((entry, ctx) => {
    if ((entry.sha256 === undefined) === (entry.key === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['sha256'], message: 'give exactly one of "sha256" (recommended) and "key"' });
    }
    if (entry.prefixes === undefined && entry.role !== 'admin') {
      ctx.addIssue({ code: 'custom', path: ['prefixes'], message: 'is required for a reader or client key ("*" for every resource)' });
    }
  });

/** Who is calling: a key's name, role and the resource prefixes it may use. */
export interface ApiKey {
  name: string;
  role: Role;
  /** Resource-name prefixes this key may use; empty string or "*" allows every resource. */
  prefixes: readonly string[];
}

/** A key file that cannot be used; the message names the file, the entry and the field. */
export class ApiKeysFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ApiKeysFileError';
  }
}

/** The SHA-256 of a key as lower-case hex, the form the key file stores. */
/** The keys in force, looked up by the SHA-256 of what a caller presents. */
export class KeyRing {
  private constructor(
    private readonly byHash: ReadonlyMap<string, { digest: Buffer; key: ApiKey }>,
    /** Names of entries given as a plain "key", which start-up warns about. */
    readonly plainKeyNames: readonly string[],
  ) {}

  /** Parses the file's JSON text; throws ApiKeysFileError naming the entry and field of the first problems. */
  static parse(text: string, file: string): KeyRing {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (error) {
      throw new ApiKeysFileError(`API_KEYS_FILE ${file}: not valid JSON (${(error as Error).message})`);
    }
    if (!Array.isArray(raw)) throw new ApiKeysFileError(`API_KEYS_FILE ${file}: must be a JSON array of key entries`);
    const problems: string[] = [];
    const byHash = new Map<string, { digest: Buffer; key: ApiKey }>();
    const names = new Set<string>();
    const plainKeyNames: string[] = [];
    raw.forEach((item, index) => {
      const label = `entry ${index}${typeof item?.name === 'string' ? ` ("${String(item.name).slice(0, 64)}")` : ''}`;
      const parsed = KeyEntrySchema.safeParse(item);
      if (!parsed.success) {
        // The message names the field, never the value: a plain key must not reach the log.
        for (const issue of parsed.error.issues) problems.push(`${label}: ${issue.path.join('.') || 'entry'}: ${issue.message}`);
        return;
      }
      const entry = parsed.data;
      if (names.has(entry.name)) problems.push(`${label}: name: "${entry.name}" is used by an earlier entry`);
      names.add(entry.name);
      const hash = entry.sha256?.toLowerCase() ?? sha256Hex(entry.key!);
      if (byHash.has(hash)) problems.push(`${label}: ${entry.sha256 ? 'sha256' : 'key'}: the same key as entry "${byHash.get(hash)!.key.name}"`);
      if (entry.key !== undefined) plainKeyNames.push(entry.name);
      const prefixes = (entry.prefixes ?? ['*']).map((prefix) => (prefix === '*' ? '' : prefix));
      byHash.set(hash, { digest: Buffer.from(hash, 'hex'), key: { name: entry.name, role: entry.role, prefixes } });
    });
    if (problems.length > 0) throw new ApiKeysFileError(`API_KEYS_FILE ${file}:\n  ${problems.join('\n  ')}`);
    if (byHash.size === 0) throw new ApiKeysFileError(`API_KEYS_FILE ${file}: has no keys; every request would be refused`);
    return new KeyRing(byHash, plainKeyNames);
  }

  /** Reads and parses the key file. */
  static async load(file: string): Promise<KeyRing> {
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (error) {
      throw new ApiKeysFileError(`API_KEYS_FILE ${file}: cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
    return KeyRing.parse(text, file);
  }

  /** How many keys are in force. */
  get size(): number {
    return this.byHash.size;
  }

  /** Every key, by name, without its secret. */
  list(): ApiKey[] {
    return [...this.byHash.values()].map(({ key }) => key).sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * The key a caller presents, if it is one of ours. The lookup is by the key's SHA-256, which a
   * caller cannot steer byte by byte, and the final comparison is constant-time.
   */
  authenticate(presented: string): ApiKey | undefined {
    const digest = createHash('sha256').update(presented, 'utf8').digest();
    const found = this.byHash.get(digest.toString('hex'));
    return found && timingSafeEqual(found.digest, digest) ? found.key : undefined;
  }
}

/** True when the key may use the resource: its name starts with one of the key's prefixes. */
export function allowsResource(key: ApiKey, resource: string): boolean {
  return key.prefixes.some((prefix) => resource.startsWith(prefix));
}
