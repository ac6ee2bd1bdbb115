// `label-set list | get NAME | put NAME (FILE | --labels A,B,...) | delete NAME`: the label sets of
// clip models (vocabularies registered once, named by `zero-shot --label-set`). put and delete
// need the gateway's admin API, and an admin key when keys are on.
import { readFile } from 'node:fs/promises';
import { type LabelSet, LabelSetSchema } from '../../client/gen/gateway/v1/gateway_pb.js';
import { type Command, type CommandInput, UsageError, list } from '../command.js';
import { plain } from '../json.js';
import type { Row } from '../output.js';

const ACTIONS = ['list', 'get', 'put', 'delete'] as const;

export const labelSetCommand: Command = {
  name: 'label-set',
  usage: 'list | get NAME | put NAME (FILE | --labels A,B,... [--template T]...) | delete NAME [--model NAME]',
  summary: 'list, show, register (a labelsets/*.txt file or labels) or delete label sets (clip models)',
  options: { model: { type: 'string', short: 'm' }, labels: { type: 'string', multiple: true }, template: { type: 'string', multiple: true } },
  async run(input) {
    const [action, name, file, ...extra] = input.positionals;
    if (!ACTIONS.includes(action as (typeof ACTIONS)[number])) throw new UsageError(`label-set needs an action: ${ACTIONS.join(', ')}${action === undefined ? '' : ` (got "${action}")`}`);
    if (action === 'list') {
      if (name !== undefined) throw new UsageError(`label-set list takes no arguments (got "${name}"); --model NAME keeps one model's sets`);
      return listSets(input);
    }
    if (!name) throw new UsageError(`label-set ${action} needs the set's NAME`);
    if (extra.length > 0 || (action !== 'put' && file !== undefined)) throw new UsageError(`label-set ${action} takes one NAME${action === 'put' ? ' and at most one FILE' : ''}`);
    const model = input.values['model'] as string | undefined;
    const ref = { model, name };
    const { client, output } = input;
    if (action === 'get') {
      const set = await client.getLabelSet(ref);
      output.emit(plain(LabelSetSchema, set), row(set));
    } else if (action === 'put') {
      const set = await client.putLabelSet({ ...ref, ...(await definition(input, file)) });
      output.emit(plain(LabelSetSchema, set), row(set));
    } else {
      await client.deleteLabelSet(ref);
      output.emit({ model: model ?? '', name, deleted: true }, { model: model ?? '', name, deleted: true });
    }
    return 0;
  },
};

/** Every set (of --model, when given); refused label-set files are reported on stderr. */
async function listSets({ client, values, output, stderr }: CommandInput): Promise<number> {
  const model = values['model'] as string | undefined;
  const { labelSets, errors } = await client.listLabelSets();
  for (const set of labelSets) if (!model || set.model === model) output.emit(plain(LabelSetSchema, set), row(set));
  for (const e of errors) if (!model || e.model === model) stderr.write(`gateway-cli: label-set file refused: ${e.model}/${e.name}: ${e.error}\n`);
  return 0;
}

/** What `put` registers: the text of FILE (the label-set file format), or --labels with --template. */
async function definition({ values }: CommandInput, file: string | undefined): Promise<{ text: string } | { labels: string[]; templates: string[] }> {
  const labels = list(values, 'labels', true);
  const templates = list(values, 'template');
  if (file !== undefined) {
    if (labels.length > 0 || templates.length > 0) throw new UsageError('label-set put takes a FILE or --labels (with --template), not both; a file gives templates as "#template: ..." lines');
    try {
      return { text: await readFile(file, 'utf8') };
    } catch (err) {
      throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
    }
  }
  if (labels.length === 0) throw new UsageError('label-set put needs a FILE (one label per line) or --labels A,B,...');
  return { labels, templates };
}

function row(set: LabelSet): Row {
  return { model: set.model, name: set.name, source: set.source, labels: set.labelsCount, templates: set.templates.length, versions: Object.keys(set.encodedAt).sort().join(',') };
}
