import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { Logger } from 'pino';
import { sdkLogger, workflowsPath as defaultWorkflowsPath } from './worker.js';

/** Bumped when what goes into the key or the bundle changes shape, so older files are never taken. */
const KEY_FORMAT = 'workflow-bundle-v1';
/**
 * Bundles kept per entry point; the least recently used (earlier sources, earlier SDKs) are removed as
 * new ones are written. Checkouts that share node_modules share the cache, each with its own key.
 */
const KEEP_PER_ENTRY = 8;
/** Packages whose version goes into every key: the bundler itself, besides what the sources import. */
const BUNDLER_PACKAGES = ['@temporalio/worker'];

/** The fields of a package.json that decide how webpack resolves and parses the files below it. */
const BUNDLER_MANIFEST_FIELDS = ['type', 'imports', 'exports', 'main', 'module', 'browser', 'sideEffects'];

const IMPORT_PATTERN = /(?:^|[\s;])(?:import|export)\s*(?:type\s+)?(?:[^'";]*?\sfrom\s*)?['"]([^'"]+)['"]/g;

/** What a bundle was made from: every workflow source it includes and the versions of the packages they import. */
export interface BundleKey {
  /** sha256 over the entry's directory, the sources' paths and contents, and the package versions. */
  key: string;
  /** Absolute paths of the sources, the entry point first, and the package.json above them. */
  sources: string[];
  packages: Record<string, string>;
}

export interface LoadedBundle {
  /** What Worker.create takes: the bundle's code, read from the cache or just made. */
  bundle: { code: string };
  /** hit: read from the cache; miss: bundled now (and cached); off: bundled now, no cache dir. */
  cache: 'hit' | 'miss' | 'off';
  key: string;
  /** The cache file, when there is one. */
  file: string | undefined;
}

export interface LoadBundleOptions {
  /** Bundle workflows/with-examples (the demo and the tests) instead of the production entry point. */
  withExamples?: boolean;
  /** Another entry point (tests of the cache use a scratch copy). */
  workflowsPath?: string;
  /** Where bundles are kept; undefined: bundle every time, keep nothing. */
  cacheDir: string | undefined;
}

/**
 * Where bundles are kept unless WORKFLOW_BUNDLE_DIR says otherwise: beside the compiled code
 * (dist/workflow-bundles, filled by `npm run build`, so a built image starts without bundling), or,
 * when run from source, under node_modules/.cache where build tools keep theirs, outside tracked files.
 */
export function defaultBundleCacheDir(): string {
  const here = fileURLToPath(import.meta.url);
  const root = path.resolve(path.dirname(here), '..', '..');
  return path.extname(here) === '.js'
    ? path.join(path.dirname(here), '..', 'workflow-bundles')
    : path.join(root, 'node_modules', '.cache', 'temporal-lock-service', 'workflow-bundles');
}

async function exists(file: string): Promise<boolean> {
  return fs.stat(file).then(
    (stat) => stat.isFile(),
    () => false,
  );
}

/** The file a relative import names, resolved as the bundler does: `./x.js` is x.ts in source, x.js once compiled. */
async function resolveRelative(fromFile: string, specifier: string): Promise<string | undefined> {
  const base = path.resolve(path.dirname(fromFile), specifier);
  const stem = base.replace(/\.js$/, '');
  const candidates = path.extname(base) === '.js' || path.extname(base) === '' ? [`${stem}.ts`, `${stem}.js`, base] : [base];
  for (const candidate of candidates) if (await exists(candidate)) return candidate;
  return undefined;
}

/** `@scope/name/sub` → `@scope/name`; `name/sub` → `name`. */
function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/** The version of the package node would find from `fromFile`, or 'missing'. */
async function packageVersion(fromFile: string, name: string): Promise<string> {
  for (let dir = path.dirname(fromFile); ; dir = path.dirname(dir)) {
    try {
      const manifest = JSON.parse(await fs.readFile(path.join(dir, 'node_modules', name, 'package.json'), 'utf8')) as { version?: string };
      return manifest.version ?? 'unknown';
    } catch {
      if (path.dirname(dir) === dir) return 'missing';
    }
  }
}

async function nearestPackageJson(fromDir: string): Promise<string | undefined> {
  for (let dir = fromDir; ; dir = path.dirname(dir)) {
    if (await exists(path.join(dir, 'package.json'))) return path.join(dir, 'package.json');
    if (path.dirname(dir) === dir) return undefined;
  }
}

/**
 * Follows the entry point's relative imports (the workflows and the pure modules they share with the
 * service) and hashes them with the versions of the packages they import: any change to what the
 * bundler would read gives another key. Type-only imports are followed too; they cost at worst a
 * needless rebundle.
 */
export async function workflowBundleKey(entry: string): Promise<BundleKey> {
  const sources: string[] = [];
  const packages: Record<string, string> = {};
  const contents = new Map<string, string>();
  const queue = [path.resolve(entry)];
  while (queue.length > 0) {
    const file = queue.shift()!;
    if (contents.has(file)) continue;
    const text = await fs.readFile(file, 'utf8');
    contents.set(file, text);
    sources.push(file);
    for (const match of text.matchAll(IMPORT_PATTERN)) {
      const specifier = match[1]!;
      if (specifier.startsWith('.')) {
        const resolved = await resolveRelative(file, specifier);
        if (!resolved) throw new Error(`${path.relative(process.cwd(), file)} imports ${specifier}, which does not exist`);
        queue.push(resolved);
      } else {
        const name = packageName(specifier.replace(/^node:/, ''));
        packages[name] ??= await packageVersion(file, name);
      }
    }
  }
  for (const name of BUNDLER_PACKAGES) packages[name] ??= await packageVersion(entry, name);
  // The bundler reads the package.json above the sources too: the fields that change how it resolves
  // and parses them count, its scripts and version do not.
  for (const dir of new Set(sources.map((file) => path.dirname(file)))) {
    const manifest = await nearestPackageJson(dir);
    if (manifest && !contents.has(manifest)) {
      const fields = JSON.parse(await fs.readFile(manifest, 'utf8')) as Record<string, unknown>;
      contents.set(manifest, JSON.stringify(BUNDLER_MANIFEST_FIELDS.map((field) => [field, fields[field]])));
      sources.push(manifest);
    }
  }

  const root = path.dirname(path.resolve(entry));
  const hash = createHash('sha256').update(`${KEY_FORMAT}\n${root}\n`);
  for (const name of Object.keys(packages).sort()) hash.update(`package ${name}@${packages[name]}\n`);
  for (const file of [...sources].sort()) {
    hash.update(`file ${path.relative(root, file)} ${Buffer.byteLength(contents.get(file)!)}\n`).update(contents.get(file)!);
  }
  return { key: hash.digest('hex').slice(0, 24), sources, packages };
}

function entryName(entry: string): string {
  return path.basename(entry, path.extname(entry));
}

/**
 * Bundles the workflow code, and records every file the bundler read outside node_modules, so a
 * source the key did not follow is caught before its bundle is cached under a key that ignores it.
 */
async function bundle(log: Logger, entry: string): Promise<{ code: string; read: Set<string> }> {
  const read = new Set<string>();
  const { code } = await bundleWorkflowCode({
    workflowsPath: entry,
    logger: sdkLogger(log),
    webpackConfigHook: (config) => ({
      ...config,
      plugins: [
        ...(config.plugins ?? []),
        {
          apply(compiler) {
            compiler.hooks.afterCompile.tap('record-bundle-sources', (compilation) => {
              for (const file of compilation.fileDependencies) read.add(file);
            });
          },
        },
      ],
    }),
  });
  return { code, read };
}

/**
 * The cached bundle's code, or undefined when there is none. Its time is refreshed, so the bundles in
 * use are the ones pruning keeps; the code is read now, as a bundle may be pruned by another process
 * (other checkouts share a cache under node_modules) at any later moment.
 */
async function readCached(file: string): Promise<string | undefined> {
  try {
    const code = await fs.readFile(file, 'utf8');
    const now = new Date();
    await fs.utimes(file, now, now).catch(() => undefined);
    return code;
  } catch {
    return undefined;
  }
}

/**
 * What the bundler reads for compiled sources' source maps only: each map and the sources it names.
 * They change stack traces, not behaviour, and a built image has the maps but not the sources, so
 * they stay out of the key (a build and its image compute the same one).
 */
async function sourceMapReads(sources: string[]): Promise<Set<string>> {
  const reads = new Set<string>();
  for (const file of sources.filter((source) => path.extname(source) === '.js')) {
    const map = `${file}.map`;
    reads.add(map);
    try {
      const parsed = JSON.parse(await fs.readFile(map, 'utf8')) as { sourceRoot?: string; sources?: string[] };
      for (const source of parsed.sources ?? []) reads.add(path.resolve(path.dirname(map), parsed.sourceRoot ?? '', source));
    } catch {
      // no map: nothing read for it
    }
  }
  return reads;
}

/** Writes through a temporary file and a rename, so a concurrent start never reads half a bundle. */
async function writeAtomically(file: string, text: string): Promise<void> {
  const tmp = `${file}.${randomUUID()}.tmp`;
  try {
    await fs.writeFile(tmp, text);
    await fs.rename(tmp, file);
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

/** Removes the oldest bundles of this entry point past KEEP_PER_ENTRY; another process may remove them first. */
async function prune(cacheDir: string, name: string): Promise<void> {
  const pattern = new RegExp(`^${name}-[0-9a-f]+\\.js$`);
  const files = (await fs.readdir(cacheDir)).filter((file) => pattern.test(file));
  const dated = await Promise.all(
    files.map(async (file) => ({ file, mtimeMs: (await fs.stat(path.join(cacheDir, file)).catch(() => undefined))?.mtimeMs ?? 0 })),
  );
  dated.sort((a, b) => b.mtimeMs - a.mtimeMs);
  await Promise.all(dated.slice(KEEP_PER_ENTRY).map(({ file }) => fs.rm(path.join(cacheDir, file), { force: true })));
}

/**
 * The workflow bundle for the worker: the cached one made from exactly these sources and SDK
 * versions, else a new one, which is then cached. Bundling takes seconds (webpack and swc over the
 * SDK's workflow runtime); reading the cached file takes milliseconds. A cache dir that cannot be
 * written costs a warning and the bundling, never the start.
 */
export async function loadWorkflowBundle(log: Logger, options: LoadBundleOptions): Promise<LoadedBundle> {
  const started = performance.now();
  const entry = options.workflowsPath ?? defaultWorkflowsPath({ withExamples: options.withExamples });
  const { key, sources } = await workflowBundleKey(entry);
  const name = entryName(entry);
  const file = options.cacheDir ? path.join(options.cacheDir, `${name}-${key}.js`) : undefined;
  const cached = file ? await readCached(file) : undefined;
  if (cached !== undefined) {
    log.info({ cache: 'hit', bundleKey: key, file, loadMs: Math.round(performance.now() - started) }, 'workflow bundle cache hit: not bundling');
    return { bundle: { code: cached }, cache: 'hit', key, file };
  }

  const { code, read } = await bundle(log, entry);
  const bundleMs = Math.round(performance.now() - started);
  if (!file) {
    log.info({ cache: 'off', bundleKey: key, bundleMs }, 'workflow code bundled (no bundle cache)');
    return { bundle: { code }, cache: 'off', key, file: undefined };
  }
  const followed = new Set(sources);
  const debugOnly = await sourceMapReads(sources);
  const unfollowed = [...read].filter(
    (dep) =>
      path.extname(dep) !== '' &&
      !dep.split(path.sep).includes('node_modules') &&
      !followed.has(dep) &&
      !debugOnly.has(dep) &&
      !/-autogenerated-entrypoint\./.test(dep),
  );
  if (unfollowed.length > 0) {
    log.warn({ bundleKey: key, unfollowed }, 'workflow bundle not cached: the bundler read sources the cache key does not cover');
    return { bundle: { code }, cache: 'off', key, file: undefined };
  }
  try {
    await fs.mkdir(options.cacheDir!, { recursive: true });
    await writeAtomically(file, code);
    await prune(options.cacheDir!, name);
  } catch (error) {
    log.warn({ cacheDir: options.cacheDir, problem: (error as Error).message }, 'workflow bundle not cached: the cache dir cannot be written');
    return { bundle: { code }, cache: 'off', key, file: undefined };
  }
  log.info({ cache: 'miss', bundleKey: key, file, bundleMs }, 'workflow bundle cache miss: bundled and cached');
  return { bundle: { code }, cache: 'miss', key, file };
}

// `npm run build` (and `npm run bundle-workflows` from source): bundles the production workflows into
// the cache beside the code, so the first start of a build or image does not bundle either.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { createLogger } = await import('../logger.js');
  const log = createLogger(process.env.LOG_LEVEL ?? 'info');
  const cacheDir = process.env.WORKFLOW_BUNDLE_DIR?.trim() || defaultBundleCacheDir();
  const loaded = await loadWorkflowBundle(log, { cacheDir });
  if (!loaded.file) throw new Error(`the workflow bundle could not be cached in ${cacheDir}`);
  process.stdout.write(`${loaded.file}\n`);
}
