// gRPC handlers of gateway.v1 ListLabelSets, GetLabelSet and, with the admin API, PutLabelSet and
// DeleteLabelSet: thin adapters from the proto messages to the label-set service, which
// authenticates, authorizes the model and requires an admin key to change a set. Without the admin
// API the two changing methods answer UNIMPLEMENTED, as HTTP has no PUT/DELETE route then.
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { GatewayError } from '../errors.js';
import { type Unary, authorization, timeoutMs, toServiceError } from './grpc-common.js';
import { type LabelSetBody, type LabelSetService, type LabelSetSummary, labelSetSummaryJson } from './labelset-service.js';

interface LabelSetRefMsg {
  model: string;
  name: string;
}

interface PutLabelSetMsg extends LabelSetRefMsg {
  labels: string[];
  templates: string[];
  text: string;
}

/** The gateway.v1 handlers of label sets; `adminApi` serves the two that change them. */
export function labelSetHandlers(labelSets: LabelSetService, options: { readonly adminApi: boolean }): grpc.UntypedServiceImplementation {
  return {
    ListLabelSets: listHandler(labelSets),
    GetLabelSet: getHandler(labelSets),
    PutLabelSet: options.adminApi ? putHandler(labelSets) : adminApiOff('PutLabelSet'),
    DeleteLabelSet: options.adminApi ? deleteHandler(labelSets) : adminApiOff('DeleteLabelSet'),
  };
}

function listHandler(labelSets: LabelSetService): Unary<unknown> {
  return (call, callback) =>
    answer(callback, () => {
      const { sets, errors } = labelSets.list({ authorization: authorization(call.metadata) });
      return { label_sets: sets.map((s) => labelSetMsg(s)), errors };
    });
}

function getHandler(labelSets: LabelSetService): Unary<LabelSetRefMsg> {
  return (call, callback) => {
    const m = call.request;
    answer(callback, () => labelSetMsg(labelSets.get(m.model ?? '', m.name ?? '', { authorization: authorization(call.metadata) }), true));
  };
}

function putHandler(labelSets: LabelSetService): Unary<PutLabelSetMsg> {
  return (call, callback) => {
    const startedAtMs = performance.now();
    const m = call.request;
    answer(callback, async () => {
      const ctx = { authorization: authorization(call.metadata), timeoutMs: timeoutMs(call) };
      return labelSetMsg(await labelSets.put(m.model ?? '', m.name ?? '', putBody(m), ctx, startedAtMs));
    });
  };
}

function deleteHandler(labelSets: LabelSetService): Unary<LabelSetRefMsg> {
  return (call, callback) => {
    const m = call.request;
    answer(callback, async () => {
      await labelSets.delete(m.model ?? '', m.name ?? '', { authorization: authorization(call.metadata) });
      return { deleted: true };
    });
  };
}

/** A set given as labels (with templates) or as the file format's text, never both. */
function putBody(m: PutLabelSetMsg): LabelSetBody {
  const labels = m.labels ?? [];
  const templates = m.templates ?? [];
  if (!m.text) return { labels, templates };
  if (labels.length > 0 || templates.length > 0) throw new GatewayError('INVALID_ARGUMENT', 'PutLabelSet takes labels (and templates) or text, not both: with text, templates are "#template: ..." lines');
  return { text: m.text };
}

/** Sends the value `work` answers, or its failure (thrown or rejected) as the catalog's status. */
function answer(callback: grpc.sendUnaryData<unknown>, work: () => unknown): void {
  (async () => work())().then(
    (value) => callback(null, value),
    (err: unknown) => callback(toServiceError(err)),
  );
}

/** The status of a changing method while the admin API is off (grpc-js's default says less). */
function adminApiOff(method: string): Unary<unknown> {
  return (_call, callback) => callback({ code: grpc.status.UNIMPLEMENTED, details: `${method} is served only with the admin API on (--admin-api, GATEWAY_ADMIN_API=true)` });
}

function labelSetMsg(s: LabelSetSummary, withLabels = false): unknown {
  return { ...labelSetSummaryJson(s, withLabels), matrix_bytes: String(s.matrixBytes) };
}
