import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// The client is the package's library entry: programs that only call the service must not load
// the server (Fastify, Temporal, pino, prom-client). This walks the imports the compiled code keeps
// (type-only imports are erased) from src/client/index.ts.

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');

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

test('the client loads no server package at runtime, only zod and its own pure modules', async () => {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const queue = [path.join(SRC, '..', 'packages', 'client', 'src', 'client', 'index.ts')];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const specifier of runtimeImports(await fs.readFile(file, 'utf8'))) {
      if (specifier.startsWith('.')) queue.push(path.resolve(path.dirname(file), specifier).replace(/\.js$/, '.ts'));
      else packages.add(specifier);
    }
  }
  assert.deepEqual([...packages].sort(), ['zod']);
  const modules = [...seen].map((file) => path.relative(SRC, file)).sort();
  assert.ok(modules.includes('http/schemas.ts'), 'the types and answer checks come from the server schemas');
  for (const module of modules) {
    assert.match(module, /^(\.\.\/packages\/client\/src\/client\/|http\/schemas\.ts$|permits\/(errors|permit|resource-name)\.ts$|service-role\.ts$|temporal\/permit-id\.ts$)/, module);
  }
});
