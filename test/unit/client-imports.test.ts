import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// The client package (packages/client) installs and runs without the server: its code imports zod,
// Node's built-ins and its own modules, never the server's (Fastify, Temporal, pino, prom-client).
// This walks the imports the compiled code keeps (type-only imports are erased) from its entries.

const PACKAGE_SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'packages', 'client', 'src');

/** Runtime import specifiers of a module: import/export ... from (not `import type`), bare and dynamic imports. */
function runtimeImports(source: string): string[] {
  const statements = source.match(/^(?:import|export)\s[^;]*?\sfrom\s+'[^']+'/gms) ?? [];
  const fromStatements = statements
    .filter((statement) => !/^(?:import|export)\s+type\s/.test(statement))
    .map((statement) => /'([^']+)'$/.exec(statement)![1]!);
  const bare = [...source.matchAll(/^import\s+'([^']+)'/gm)].map((match) => match[1]!);
  const dynamic = [...source.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)].map((match) => match[1]!);
  return [...fromStatements, ...bare, ...dynamic];
}

/** The packages and the modules reached from the entries. */
async function reach(entries: string[]): Promise<{ packages: string[]; modules: string[] }> {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const queue = entries.map((entry) => path.join(PACKAGE_SRC, entry));
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const specifier of runtimeImports(await fs.readFile(file, 'utf8'))) {
      if (specifier.startsWith('.')) queue.push(path.resolve(path.dirname(file), specifier).replace(/\.js$/, '.ts'));
      else if (!specifier.startsWith('node:')) packages.add(specifier);
    }
  }
  return { packages: [...packages].sort(), modules: [...seen].map((file) => path.relative(PACKAGE_SRC, file)).sort() };
}

test('the client package loads no server module or package at runtime, only zod and its own modules', async () => {
  const { packages, modules } = await reach(['client/index.ts', 'cli/main.ts', 'wire/schemas.ts']);
  assert.deepEqual(packages, ['zod']);
  assert.ok(modules.includes('wire/schemas.ts'), 'the types and answer checks come from the wire schemas');
  for (const module of modules) assert.ok(!module.startsWith('..'), `${module} lies outside the client package`);
});
