#!/usr/bin/env node
// The omnitalk executable. No build step is needed: the first start bundles the TypeScript sources into
// one ES module with esbuild (under a second), and later starts reuse it until a source is newer.
//
// Why not run the sources through tsx, as before: a process that loads ~200 TypeScript modules through
// tsx's loader carries the loader's thread and every transformed source with its source map — an idle
// `omnitalk worker` took 197 MB of memory that way and 133 MB from the bundle (measured with
// /proc/<pid>/status, VmRSS). Every worker, server and CLI process pays it.
//
// OMNITALK_TSX=1 runs the sources through tsx instead (stack traces then point into the .ts files).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const entry = path.join(root, 'src/cli/main.ts');

/** The newest modification time of any TypeScript source under src/ (about 200 files: a few ms). */
function newestSource(dir) {
  let newest = 0;
  for (const item of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, item.name);
    if (item.isDirectory()) newest = Math.max(newest, newestSource(file));
    else if (item.name.endsWith('.ts')) newest = Math.max(newest, fs.statSync(file).mtimeMs);
  }
  return newest;
}

async function bundled() {
  const out = path.join(root, 'node_modules/.cache/omnitalk/cli.mjs');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  let builtAt = 0;
  try {
    builtAt = fs.statSync(out).mtimeMs;
  } catch {
    // not built yet
  }
  if (builtAt < newestSource(path.join(root, 'src'))) {
    const { build } = await import('esbuild');
    // Written beside and renamed into place: processes starting together each build, and each sees
    // either the old bundle or a whole new one.
    const tmp = `${out}.${process.pid}.tmp`;
    await build({
      entryPoints: [entry],
      outfile: tmp,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      // Dependencies are loaded from node_modules as usual; only our own sources are bundled.
      packages: 'external',
      keepNames: true,
      logLevel: 'error',
    });
    fs.renameSync(tmp, out);
  }
  return import(pathToFileURL(out).href);
}

async function fromSources() {
  const { register } = await import('tsx/esm/api');
  register();
  return import(pathToFileURL(entry).href);
}

async function load() {
  if (process.env.OMNITALK_TSX === '1') return fromSources();
  try {
    return await bundled();
  } catch (err) {
    // A read-only install (the cache cannot be written) still runs, from the sources.
    if (err?.code !== 'EACCES' && err?.code !== 'EROFS' && err?.code !== 'EPERM') throw err;
    return fromSources();
  }
}

const { main } = await load();
await main(process.argv);
