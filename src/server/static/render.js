// Drawing for the playground: the scores as horizontal bars, the timing split as one stacked bar,
// and the models table. DOM only (textContent, never innerHTML: labels are user text).

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** One bar per label, best first as the API answers; width = score (0..1). */
export function renderBars(list, labels) {
  list.replaceChildren(
    ...labels.map((l) => {
      const item = el('li', 'bar-row');
      item.dataset.label = l.label;
      const track = el('div', 'track');
      const fill = el('div', 'fill');
      fill.style.width = `${Math.max(0, Math.min(1, l.score)) * 100}%`;
      track.append(fill);
      item.append(el('span', 'bar-label', l.label), track, el('span', 'bar-score', l.score.toFixed(3)));
      return item;
    }),
  );
}

const STAGES = [
  ['preprocessMs', 'preprocess'],
  ['queueMs', 'queue'],
  ['inferenceMs', 'inference'],
  ['textMs', 'text'],
];

/** The timing split: a stacked bar of the stages (ms) and their numbers, with the total. */
export function renderTiming(box, timing) {
  const stages = STAGES.filter(([key]) => typeof timing[key] === 'number');
  const sum = stages.reduce((s, [key]) => s + timing[key], 0) || 1;
  const bar = el('div', 'stack');
  const legend = el('p', 'legend');
  for (const [key, name] of stages) {
    const part = el('div', `part ${name}`);
    part.style.width = `${(timing[key] / sum) * 100}%`;
    part.title = `${name} ${timing[key].toFixed(1)} ms`;
    bar.append(part);
    const entry = el('span', `key ${name}`, `${name} ${timing[key].toFixed(1)} ms`);
    entry.dataset.stage = name;
    legend.append(entry);
  }
  legend.append(el('span', 'total', `total ${timing.totalMs.toFixed(1)} ms`));
  box.replaceChildren(bar, legend);
}

function batching(info) {
  const b = info?.batching;
  if (!b) return '';
  return `${b.policy ?? ''} max ${b.maxBatchSize}, ${b.maxQueueDelayMs} ms delay${b.instances > 1 ? `, ${b.instances} instances` : ''}`;
}

/** One row per model version: state, provider, batching, I/O. */
export function renderModels(body, models) {
  const rows = [];
  for (const m of models) {
    const versions = m.versions.length > 0 ? m.versions : [{ version: '-', state: m.state, reason: m.reason, info: undefined, healthy: true }];
    for (const v of versions) {
      const row = el('tr');
      row.dataset.model = m.name;
      const stateCell = el('td', `state ${v.state.toLowerCase()}`, v.healthy === false ? `${v.state} (failing)` : v.state);
      if (v.reason || v.lastError) stateCell.title = v.reason || v.lastError;
      row.append(
        el('td', '', m.name),
        el('td', '', m.kind),
        stateCell,
        el('td', '', v.version + (v.version === m.defaultVersion ? ' (default)' : '')),
        el('td', '', v.info ? v.info.provider + (v.info.providerNote ? ` (${v.info.providerNote})` : '') : ''),
        el('td', '', batching(v.info)),
        el('td', '', v.info ? `${v.info.inputs.join(', ')} → ${v.info.outputs.join(', ')}` : ''),
      );
      rows.push(row);
    }
  }
  body.replaceChildren(...rows);
}
