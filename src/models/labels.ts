// Class labels of a classifier version: inline in the manifest, or a plain file in the version
// folder, else in the model folder (one label per line).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Labels inline, or from a file in the version folder, else the model folder. */
export async function readLabels(spec: string | readonly string[], versionDir: string, modelDir: string): Promise<string[]> {
  if (Array.isArray(spec)) return [...(spec as readonly string[])];
  const file = spec as string;
  if (file.includes('/') || file.includes('\\') || file.startsWith('.')) throw new Error(`labels file "${file}" must be a plain file name`);
  for (const dir of [versionDir, modelDir]) {
    try {
      const text = await readFile(join(dir, file), 'utf8');
      return text.split(/\r?\n/).filter((line, i, all) => line.length > 0 || i < all.length - 1);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  throw new Error(`labels file "${file}" not found in ${versionDir} or ${modelDir}`);
}
