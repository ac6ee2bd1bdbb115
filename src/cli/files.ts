// The image files a command line names: files as given, folders walked recursively for image
// extensions, in a stable (sorted) order.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from './command.js';

const IMAGE_EXTENSIONS = /\.(jpe?g|png|webp|gif|tiff?|avif)$/i;

/** The files to send, and whether any came from a folder (then a progress bar makes sense). */
export async function imageFiles(args: readonly string[]): Promise<{ files: string[]; fromFolder: boolean }> {
  const files: string[] = [];
  let fromFolder = false;
  for (const arg of args) {
    let isDir: boolean;
    try {
      isDir = (await stat(arg)).isDirectory();
    } catch (err) {
      throw new UsageError(`cannot read ${arg}: ${(err as Error).message}`);
    }
    if (!isDir) {
      files.push(arg);
      continue;
    }
    fromFolder = true;
    const entries = await readdir(arg, { recursive: true, withFileTypes: true });
    const found = entries.filter((e) => e.isFile() && IMAGE_EXTENSIONS.test(e.name)).map((e) => join(e.parentPath, e.name));
    if (found.length === 0) throw new UsageError(`${arg} holds no image files (${IMAGE_EXTENSIONS.source})`);
    files.push(...found.sort());
  }
  return { files, fromFolder };
}
