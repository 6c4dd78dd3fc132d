// The files under deploy/ are templates with ${NAME} placeholders (envsubst's syntax): the cluster
// script fills them with the ports it picked. Pure: the unit test
// reads the same files through these functions.
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const DEPLOY_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'deploy');

const PLACEHOLDER = /\$\{([A-Z][A-Z0-9_]*)\}/g;

/** The placeholder names a template uses, each once, in order of first use. */
export function placeholders(template: string): string[] {
  return [...new Set([...template.matchAll(PLACEHOLDER)].map((match) => match[1]!))];
}

/** Fills every ${NAME}; a name without a value is an error naming it (a half-filled config must not start). */
export function renderTemplate(template: string, values: Readonly<Record<string, string | number>>, what = 'template'): string {
  const missing = placeholders(template).filter((name) => values[name] === undefined);
  if (missing.length > 0) throw new Error(`${what} needs a value for ${missing.map((name) => `\${${name}}`).join(', ')}`);
  return template.replace(PLACEHOLDER, (_, name: string) => String(values[name]));
}

/** KEY=VALUE lines of an environment file; blank lines and # comments are skipped, values are taken as written. */
export function parseEnvFile(text: string, what = 'environment file'): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (!match) throw new Error(`${what}, line ${index + 1}: "${line}" is not KEY=VALUE`);
    env[match[1]!] = match[2]!;
  }
  return env;
}

/** Reads a file under deploy/. */
export function readDeployFile(relative: string): Promise<string> {
  return fs.readFile(path.join(DEPLOY_DIR, relative), 'utf8');
}
