import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { generateKey, sha256Hex } from '../../src/auth/api-keys.js';

export interface TestKey {
  name: string;
  role: 'reader' | 'client' | 'admin';
  prefixes?: string[];
  /** Written to the file as a plain "key" rather than its sha256. */
  plain?: boolean;
}

export interface KeyFile {
  file: string;
  /** The secret of each key, by name. */
  keys: Record<string, string>;
  /** `authorization: Bearer <key>` for the named key. */
  auth(name: string): Record<string, string>;
  /** Rewrites the file with these keys (a new secret for a new name, the same one for a name already there). */
  write(entries: TestKey[]): Promise<void>;
  remove(): Promise<void>;
}

/** A key file in a fresh temporary directory, removed after the test (by the caller when there is no test context). */
export async function writeKeyFile(t: TestContext | undefined, entries: TestKey[]): Promise<KeyFile> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'lock-service-keys-'));
  const file = path.join(dir, 'api-keys.json');
  const keys: Record<string, string> = {};
  const write = async (list: TestKey[]) => {
    const json = list.map((entry) => {
      const key = (keys[entry.name] ??= generateKey().key);
      const secret = entry.plain ? { key } : { sha256: sha256Hex(key) };
      return { name: entry.name, role: entry.role, ...(entry.prefixes && { prefixes: entry.prefixes }), ...secret };
    });
    // Written whole and renamed, so the service never reads half a file.
    await fs.writeFile(`${file}.tmp`, JSON.stringify(json, null, 2));
    await fs.rename(`${file}.tmp`, file);
  };
  await write(entries);
  const remove = () => fs.rm(dir, { recursive: true, force: true });
  t?.after(remove);
  return { file, keys, auth: (name) => ({ authorization: `Bearer ${keys[name]}` }), write, remove };
}
