// Keeps the server's filesystem layout out of what clients see: model reasons, provider notes and
// error messages name files relative to the models directory (`my-model/1/model.onnx`), a package
// file relative to node_modules (`onnxruntime-node/bin/...`), and any other absolute path by its
// file name. The log keeps the full text: redaction applies only where text leaves the server.
import { basename, isAbsolute, resolve } from 'node:path';

/** Characters that may stand right before a path inside a message (start, space, quote, bracket, "="). */
const LEAD = `(^|[\\s"'(\\[=])`;
/** A path runs until whitespace, a quote, a closing bracket, or a separator of prose. */
const PATH_CHARS = `[^\\s"'()\\[\\],;]`;

/** Everything up to and including a node_modules folder. */
const NODE_MODULES = new RegExp(`${LEAD}${PATH_CHARS}*[/\\\\]node_modules[/\\\\]`, 'g');
/**
 * Absolute filesystem paths under the usual top-level folders. URL paths of the API (`/v1/...`,
 * `/v2/...`) never start with these, so messages that name a route stay intact.
 */
const ABSOLUTE_PATH = new RegExp(`${LEAD}(/(?:home|root|tmp|usr|opt|var|etc|srv|mnt|media|app|work|data|run|proc|sys|dev|nix|private|Users|Volumes)(?:/${PATH_CHARS}*)?)`, 'g');

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * `text` with server paths removed: paths under `modelsRoot` (absolute or as configured) become
 * relative to it, node_modules paths start at the package, other absolute paths keep their file name.
 */
export function redactPaths(text: string, modelsRoot?: string): string {
  let out = text;
  if (modelsRoot !== undefined && modelsRoot.length > 0) {
    const forms = new Set([resolve(modelsRoot)]);
    if (!isAbsolute(modelsRoot)) forms.add(modelsRoot.replace(/[/\\]+$/, ''));
    for (const root of forms) {
      // The root followed by a separator goes; the root on its own reads as ".".
      const re = new RegExp(`${LEAD}${escape(root)}(?:[/\\\\]|(?=[\\s"'()\\[\\],;:]|$))`, 'g');
      out = out.replace(re, (match: string, lead: string) => (/[/\\]$/.test(match) ? lead : `${lead}.`));
    }
  }
  return out.replace(NODE_MODULES, '$1').replace(ABSOLUTE_PATH, (_m, lead: string, path: string) => `${lead}${basename(path) || '.'}`);
}
