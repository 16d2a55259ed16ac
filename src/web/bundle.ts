import crypto from 'node:crypto';
import path from 'node:path';
import zlib from 'node:zlib';
import { build } from 'esbuild';
import { projectRoot } from '../shared/paths.ts';

/**
 * The browser scripts the server itself serves (the visitor widget, the plain operator page) are
 * TypeScript sources bundled in memory with esbuild on first request, so `npm start` needs no build
 * step and nothing built is committed. Each bundle is built once per process.
 */

export const repoRoot = projectRoot;

export const browserEntries = {
  widget: 'widget/src/main.ts',
  operator: 'web/plain/operator/main.ts',
} as const;
export type BrowserEntry = keyof typeof browserEntries;

export interface Bundle {
  code: Buffer;
  gzip: Buffer;
  etag: string;
}

/** Bundles one entry: an IIFE for evergreen browsers, minified, no source map (the sources are public). */
export async function buildBundle(entry: BrowserEntry): Promise<Bundle> {
  const result = await build({
    entryPoints: [path.join(repoRoot, browserEntries[entry])],
    bundle: true,
    format: 'iife',
    minify: true,
    target: ['es2020', 'chrome87', 'firefox91', 'safari15'],
    platform: 'browser',
    charset: 'utf8',
    legalComments: 'none',
    write: false,
    logLevel: 'silent',
  });
  const code = Buffer.from(result.outputFiles[0]!.contents);
  const gzip = zlib.gzipSync(code, { level: 9 });
  const etag = `"${crypto.createHash('sha256').update(code).digest('base64url').slice(0, 22)}"`;
  return { code, gzip, etag };
}

const cache = new Map<BrowserEntry, Promise<Bundle>>();

export function bundleOf(entry: BrowserEntry): Promise<Bundle> {
  let bundle = cache.get(entry);
  if (!bundle) {
    bundle = buildBundle(entry);
    // A failed build is retried on the next request (e.g. a source being edited in development).
    bundle.catch(() => cache.delete(entry));
    cache.set(entry, bundle);
  }
  return bundle;
}
