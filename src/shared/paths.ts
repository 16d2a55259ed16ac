import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The project's root directory (where package.json is), found by walking up from this module. The
 * same code runs from src/ and bundled into node_modules/.cache/omnitalk (bin/omnitalk.js), so files
 * that ship with the sources — migrations, the browser scripts' sources — are found from here, never
 * relative to the running module.
 */
export const projectRoot = findRoot(path.dirname(fileURLToPath(import.meta.url)));

function findRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest) && JSON.parse(fs.readFileSync(manifest, 'utf8')).name === 'omnitalk')
      return dir;
    if (path.dirname(dir) === dir) throw new Error(`omnitalk's package.json not found above ${start}`);
  }
}
