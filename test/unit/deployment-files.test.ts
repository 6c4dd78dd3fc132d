import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import { test } from 'node:test';
import { parse } from 'yaml';
import { EnvSchema, TEMPORAL_CLI_VERSION, loadConfig } from '../../src/config.js';

// No Docker engine runs on the development machines, so these files are kept honest by reading them.

const read = (file: string) => fs.readFile(new URL(`../../${file}`, import.meta.url), 'utf8');

interface ComposeService {
  image?: string;
  build?: string;
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
}

async function compose(): Promise<{ services: Record<string, ComposeService>; volumes: Record<string, unknown> }> {
  return parse(await read('docker-compose.yml'));
}

function dockerfileStages(text: string): string[][] {
  const lines = text.split('\n').filter((line) => line.trim() && !line.trim().startsWith('#'));
  const stages: string[][] = [];
  for (const line of lines) {
    if (/^FROM\s/i.test(line)) stages.push([]);
    stages.at(-1)?.push(line);
  }
  return stages;
}

test('docker-compose runs the Temporal dev server on 0.0.0.0 with its database on a volume', async () => {
  const { services, volumes } = await compose();
  const temporal = services.temporal!;
  assert.match(temporal.image ?? '', new RegExp(`^temporalio/temporal:${TEMPORAL_CLI_VERSION.replaceAll('.', '\\.')}$`));
  const command = temporal.command ?? [];
  assert.deepEqual(command.slice(0, 2), ['server', 'start-dev']);
  assert.equal(command[command.indexOf('--ip') + 1], '0.0.0.0');
  const dbFile = command[command.indexOf('--db-filename') + 1] ?? '';
  const mount = (temporal.volumes ?? []).map((volume) => volume.split(':')).find(([, target]) => dbFile.startsWith(`${target}/`));
  assert.ok(mount, `the database file ${dbFile} lies on a mounted volume`);
  assert.ok(mount[0]! in volumes, `volume ${mount[0]} is declared`);
});

test('docker-compose points the lock service at that server with settings the config accepts', async () => {
  const { services } = await compose();
  const service = services['lock-service']!;
  const environment = service.environment ?? {};
  for (const variable of Object.keys(environment)) {
    assert.ok(variable in EnvSchema.shape, `${variable} is a configuration variable`);
  }
  const config = loadConfig(environment);
  const temporalCommand = services.temporal!.command ?? [];
  const temporalPort = temporalCommand[temporalCommand.indexOf('--port') + 1];
  assert.equal(config.temporal.address, `temporal:${temporalPort}`);
  assert.equal(config.host, '0.0.0.0', 'the service listens beyond the container loopback');
  assert.ok(
    (service.ports ?? []).some((mapping) => mapping.endsWith(`:${config.port}`)),
    `a port mapping reaches container port ${config.port}`,
  );
  assert.equal(service.depends_on?.temporal?.condition, 'service_healthy');
  assert.equal(service.build, '.');
});

test('the published package carries the dashboard page\'s files', async () => {
  const files = JSON.parse(await read('package.json')).files as string[];
  assert.ok(files.includes('ui/'), 'package.json files lists ui/');
});

test('the Dockerfile is multi-stage, runs compiled JavaScript as a non-root user and exposes the configured port', async () => {
  const text = await read('Dockerfile');
  const stages = dockerfileStages(text);
  assert.ok(stages.length >= 2, 'at least a build and a runtime stage');
  const runtime = stages.at(-1)!;
  const engines = JSON.parse(await read('package.json')).engines.node as string;
  for (const stage of stages) assert.match(stage[0]!, new RegExp(`^FROM node:${engines.match(/\d+/)![0]}\\b`));

  const user = runtime.find((line) => /^USER\s/.test(line));
  assert.ok(user && !/\broot\b|\s0$/.test(user), 'the runtime stage switches to a non-root user');
  assert.ok(runtime.some((line) => /COPY --from=\w+ \/app\/dist/.test(line)), 'the runtime copies the compiled dist/');
  assert.ok(runtime.some((line) => /npm ci --omit=dev/.test(line)), 'the runtime installs production dependencies only');
  assert.ok(runtime.some((line) => line.startsWith('CMD ["node", "dist/main.js"]')));
  // The dashboard page is plain files beside dist/ (src/http/routes/ui.ts reads them from ../../../ui).
  assert.ok(runtime.some((line) => /^COPY\s+(--from=\w+\s+)?(\/app\/)?ui\s+\.\/ui$/.test(line)), 'the runtime has the page\'s files in ui/');

  const tsconfig = JSON.parse(await read('tsconfig.build.json'));
  assert.equal(tsconfig.compilerOptions.rootDir, 'src', 'dist/main.js is the build of src/main.ts');

  const envBlock = runtime.filter((line) => /^(ENV\s|\s+\w+=)/.test(line)).join(' ');
  const env = Object.fromEntries([...envBlock.matchAll(/(\w+)=(\S+)/g)].map((match) => [match[1]!, match[2]!]));
  for (const variable of Object.keys(env).filter((name) => name !== 'NODE_ENV')) {
    assert.ok(variable in EnvSchema.shape, `${variable} is a configuration variable`);
  }
  const exposed = runtime.find((line) => line.startsWith('EXPOSE'))?.split(/\s+/)[1];
  assert.equal(exposed, env.PORT);
  assert.equal(env.HOST, '0.0.0.0');
});

test('the image starts without bundling: the build stage bundles the workflow code into dist, which the runtime stage copies', async () => {
  const build = JSON.parse(await read('package.json')).scripts.build as string;
  const steps = build.split('&&').map((step) => step.trim());
  const compile = steps.findIndex((step) => step.startsWith('tsc -p tsconfig.build.json'));
  const bundle = steps.indexOf('node dist/temporal/workflow-bundle.js');
  assert.ok(compile >= 0 && bundle > compile, 'npm run build bundles the compiled workflows after compiling them');
  await fs.access(new URL('../../src/temporal/workflow-bundle.ts', import.meta.url));

  const stages = dockerfileStages(await read('Dockerfile'));
  const runtime = stages.at(-1)!;
  const from = /COPY --from=(\w+) \/app\/dist/.exec(runtime.find((line) => /COPY --from=\w+ \/app\/dist/.test(line)) ?? '')?.[1];
  const builder = stages.find((stage) => new RegExp(`^FROM .* AS ${from}$`, 'i').test(stage[0]!));
  assert.ok(builder?.some((line) => /^RUN npm run build$/.test(line)), 'the stage whose dist/ the runtime copies runs npm run build');
});

test('the Dockerfile and docker-compose.yml each say whether they check API keys or opt out of them', async () => {
  const runtime = dockerfileStages(await read('Dockerfile')).at(-1)!;
  const envBlock = runtime.filter((line) => /^(ENV\s|\s+\w+=)/.test(line)).join(' ');
  const imageEnv = Object.fromEntries([...envBlock.matchAll(/(\w+)=(\S+)/g)].map((match) => [match[1]!, match[2]!]));
  // The image listens on every interface and checks keys: the file is a path the operator mounts.
  assert.ok(imageEnv.API_KEYS_FILE?.startsWith('/'), 'the image names the key file it reads');
  assert.equal(loadConfig(imageEnv).auth.keysFile, imageEnv.API_KEYS_FILE);

  const service = (await compose()).services['lock-service']!;
  const environment = { ...imageEnv, ...service.environment };
  const config = loadConfig(environment);
  // compose opts out explicitly, and publishes the port on the host's loopback only.
  assert.equal(config.auth.keysFile, undefined);
  assert.equal(config.auth.allowUnauthenticated, true);
  assert.ok((service.ports ?? []).every((mapping) => mapping.startsWith('127.0.0.1:')), 'published on loopback only');
});
