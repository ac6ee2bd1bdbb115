// The label-set text format (models/<model>/labelsets/<name>.txt, or the text/plain body of
// PUT /v1/label-sets/:name): one label per line; `#template: <prompt with {}>` lines give the
// set's prompt templates (none = the model's); other lines starting with `#` are comments.
// A bad line is refused with its 1-based line number, so an operator can fix the file.
import { createHash } from 'node:crypto';
import { GatewayError } from '../errors.js';
import { cleanText } from './tokenizer.js';

/** What a label set is made of, as registered. */
export interface LabelSetDefinition {
  /** Distinct labels (after CLIP's text cleanup), in file order, spelled as given. */
  readonly labels: readonly string[];
  /** Prompt templates with `{}` for the label; empty = the model's default. */
  readonly templates: readonly string[];
}

export interface LabelSetLimits {
  readonly maxLabels: number;
  readonly maxLabelChars: number;
  readonly maxTemplates: number;
  readonly maxTemplateChars: number;
}

const TEMPLATE = /^#\s*template:\s?(.*)$/i;

/** Parses the text format; throws INVALID_ARGUMENT naming the first bad line. */
export function parseLabelSetText(text: string, limits: LabelSetLimits): LabelSetDefinition {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  // One trailing newline ends the last line; it is not an empty label.
  if (lines.length > 1 && lines.at(-1) === '') lines.pop();
  const labels: string[] = [];
  const templates: string[] = [];
  const seen = new Map<string, number>();
  lines.forEach((line, i) => {
    const at = `line ${i + 1}`;
    const template = TEMPLATE.exec(line);
    if (template) {
      templates.push(checkTemplate(template[1]!.trim(), at, limits));
      return;
    }
    if (line.startsWith('#')) return;
    if (line.trim().length === 0) throw invalid(`${at} is empty; every line is a label, a "#template: ..." line or a "#" comment`);
    const label = line.trim();
    if (label.length > limits.maxLabelChars) throw invalid(`${at}: label is ${label.length} characters long; the limit is ${limits.maxLabelChars}`);
    const key = cleanText(label);
    const first = seen.get(key);
    if (first !== undefined) throw invalid(`${at}: label "${label.slice(0, 64)}" duplicates line ${first} (labels are compared after CLIP's text cleanup: case, spacing)`);
    seen.set(key, i + 1);
    labels.push(label);
    if (labels.length > limits.maxLabels) throw invalid(`${at}: more than ${limits.maxLabels} labels; the limit is ${limits.maxLabels} (--label-set-max-labels)`);
  });
  if (labels.length === 0) throw invalid('a label set needs at least one label');
  if (templates.length > limits.maxTemplates) throw invalid(`too many templates: ${templates.length} given, the limit is ${limits.maxTemplates}`);
  return { labels, templates };
}

/** Checks a definition given as JSON arrays, with the same rules (items are numbered from 0). */
export function checkLabelSetDefinition(labels: readonly string[], templates: readonly string[], limits: LabelSetLimits): LabelSetDefinition {
  if (labels.length === 0) throw invalid('labels is required: give at least one label');
  if (labels.length > limits.maxLabels) throw invalid(`too many labels: ${labels.length} given, the limit is ${limits.maxLabels} (--label-set-max-labels)`);
  if (templates.length > limits.maxTemplates) throw invalid(`too many templates: ${templates.length} given, the limit is ${limits.maxTemplates}`);
  const seen = new Map<string, number>();
  const out = labels.map((raw, i) => {
    const label = raw.trim();
    if (label.length === 0) throw invalid(`label ${i} is empty; every label needs text`);
    if (label.length > limits.maxLabelChars) throw invalid(`label ${i} is ${label.length} characters long; the limit is ${limits.maxLabelChars}`);
    const key = cleanText(label);
    const first = seen.get(key);
    if (first !== undefined) throw invalid(`label ${i} ("${label.slice(0, 64)}") duplicates label ${first}`);
    seen.set(key, i);
    return label;
  });
  return { labels: out, templates: templates.map((t, i) => checkTemplate(t, `template ${i}`, limits)) };
}

/** Hex SHA-256 of a definition: equal definitions share their embeddings. */
export function labelSetHash(definition: LabelSetDefinition): string {
  return createHash('sha256').update(JSON.stringify([definition.templates, definition.labels])).digest('hex');
}

function checkTemplate(template: string, at: string, limits: LabelSetLimits): string {
  if (!template.includes('{}')) throw invalid(`${at}: template "${template.slice(0, 64)}" has no "{}" where the label goes, e.g. "a photo of a {}."`);
  if (template.length > limits.maxTemplateChars) throw invalid(`${at}: template is ${template.length} characters long; the limit is ${limits.maxTemplateChars}`);
  return template;
}

function invalid(message: string): GatewayError {
  return new GatewayError('INVALID_ARGUMENT', message);
}
