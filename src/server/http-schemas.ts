// The request schemas of the HTTP API, one per route, written once in zod and turned into JSON
// Schema for fastify's route validation (and, later, an OpenAPI document). The handlers' field
// types are inferred from the same schemas.
//
// One rule for every route and every place a field can come from (query string, form field,
// JSON): a numeric field accepts a JSON number or a string of digits ("3"), a boolean accepts
// true/false or the strings "true", "false", "1", "0", and a version accepts a positive integer or
// its digits as a string. Query strings and form fields are text, so JSON gets the same leniency
// rather than a different rule. Anything else of the wrong type is 400 INVALID_ARGUMENT naming the
// field and the expected type (see http-validation.ts).
import { z } from 'zod';

/** A positive integer, as a JSON number or a string of digits (its limit is the route's to check and name). */
const positiveInteger = z.union([z.int().min(1), z.string().regex(/^[1-9][0-9]{0,15}$/)]).meta({ description: 'a positive integer (a number or a string of digits)' });
/** A model version: a positive integer, as a number or a string of digits; "" means the default. */
const version = z.union([z.int().min(1).max(999_999_999), z.string().regex(/^([1-9][0-9]{0,8})?$/)]).meta({ description: 'a version number (a positive integer or a string of digits)' });
const flag = z.union([z.boolean(), z.enum(['true', 'false', '1', '0', ''])]).meta({ description: 'true or false (a boolean or "true", "false", "1", "0")' });
const modelName = z.string().meta({ description: 'a model name (a string)' });
/** A text list: one string (comma-separated where the field says so) or an array of strings. */
const textList = z.union([z.string(), z.array(z.string())]).meta({ description: 'a string or an array of strings' });
const base64Image = z.string().min(1).meta({ description: 'a non-empty base64 string' });

/** Fields of POST /v1/classify that the query string, form fields and JSON share. */
export const classifyFields = z.strictObject({ model: modelName.optional(), version: version.optional(), top_k: positiveInteger.optional() });
/** The JSON body of POST /v1/classify. */
export const classifyJson = classifyFields.extend({ image: base64Image });

/** Fields of POST /v1/zero-shot; `labels` given once is comma-separated, templates contain "{}". */
export const zeroShotFields = z.strictObject({
  model: modelName.optional(),
  version: version.optional(),
  labels: textList.optional(),
  template: textList.optional(),
  templates: textList.optional(),
  top_k: positiveInteger.optional(),
  multi_label: flag.optional(),
  label_set: z.string().min(1).meta({ description: 'the name of a registered label set (instead of labels)' }).optional(),
  rerank: flag.meta({ description: "rescore the cosine top-k with the model's reranker (absent: the model's default)" }).optional(),
  rerank_top_k: positiveInteger.meta({ description: "candidates to rerank, at most the model's limit (absent: the model's default)" }).optional(),
});
export const zeroShotJson = zeroShotFields.extend({ image: base64Image.optional() });

/** Fields of POST /v1/embed: an image, texts, or both. */
export const embedFields = z.strictObject({ model: modelName.optional(), version: version.optional(), texts: textList.optional() });
export const embedJson = embedFields.extend({ image: base64Image.optional() });

/**
 * The JSON body of POST /v1/embeddings, OpenAI's embeddings request: `input` is a text or a list
 * of texts, or with `modality: "image"` (as Infinity does) images as data URIs or base64. `user`
 * is accepted and ignored, as OpenAI-compatible servers do.
 */
export const openAiEmbeddingsJson = z.strictObject({
  model: modelName,
  input: z.union([z.string(), z.array(z.string()).min(1).meta({ description: 'a non-empty array of strings' })]).meta({ description: 'a string or a non-empty array of strings' }),
  encoding_format: z.enum(['float', 'base64']).meta({ description: '"float" or "base64"' }).optional(),
  dimensions: z.int().min(1).meta({ description: 'a positive integer' }).optional(),
  modality: z.enum(['text', 'image']).meta({ description: '"text" or "image"' }).optional(),
  user: z.string().meta({ description: 'a string' }).optional(),
});

/** The path of /v1/label-sets/:name. */
export const labelSetParams = z.strictObject({ name: z.string().min(1).max(128).meta({ description: 'the label set\'s name: letters, digits, ".", "_" or "-"' }) });
/** The query of the label-set routes: the clip model (default: the only one). */
export const labelSetQuery = z.strictObject({ model: modelName.optional() });
/** The JSON body of PUT /v1/label-sets/:name (the text/plain body is the label-set file format). */
export const labelSetPutJson = z
  .strictObject({
    model: modelName.optional(),
    labels: z.array(z.string()).min(1).meta({ description: 'a non-empty array of labels' }),
    templates: z.array(z.string()).meta({ description: 'prompt templates with "{}" where the label goes' }).optional(),
  })
  .meta({ examples: [{ model: 'miniclip-shapes', labels: ['red circle', 'blue star', 'green square'], templates: ['a drawing of a {}.'] }] });
/** The text/plain body of PUT /v1/label-sets/:name: one label per line, "#template: ..." lines, "#" comments. */
export const labelSetText = z.string().meta({
  description: 'one label per line; "#template: a photo of a {}." lines give templates; other "#" lines are comments',
  examples: ['# shapes\n#template: a drawing of a {}.\nred circle\nblue star\ngreen square\n'],
});

/** POST /v1/admin/reload takes no fields. */
export const noFields = z.strictObject({});

const parameters = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).meta({ description: 'an object of string, number or boolean values' });
const dimension = z.union([z.int().min(0), z.string().regex(/^[0-9]+$/)]).meta({ description: 'a non-negative integer (a number or a string of digits)' });

/** The JSON (header) of a KServe v2 inference request; tensor data is checked against its datatype later. */
export const v2InferRequest = z.looseObject({
  id: z.string().min(1).meta({ description: 'a non-empty string' }).optional(),
  parameters: parameters.optional(),
  inputs: z
    .array(
      z.looseObject({
        name: z.string().min(1).meta({ description: 'a non-empty string' }),
        datatype: z.string().min(1).meta({ description: 'a non-empty string' }),
        shape: z.array(dimension).meta({ description: 'an array of integers' }),
        parameters: parameters.optional(),
        data: z.unknown().optional(),
      }),
    )
    .min(1)
    .meta({ description: 'a non-empty array of input tensors' }),
  outputs: z.array(z.looseObject({ name: z.string().min(1).meta({ description: 'a non-empty string' }), parameters: parameters.optional() })).meta({ description: 'an array of requested outputs' }).optional(),
});

export type ClassifyFields = z.infer<typeof classifyJson>;
export type ZeroShotFields = z.infer<typeof zeroShotJson>;
export type EmbedFields = z.infer<typeof embedJson>;
export type OpenAiEmbeddingsJson = z.infer<typeof openAiEmbeddingsJson>;
export type V2InferJson = z.infer<typeof v2InferRequest>;
export type LabelSetPutJson = z.infer<typeof labelSetPutJson>;

/** JSON Schema (draft-07, as fastify's Ajv reads it) of a zod schema. */
export function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const schemaJson = z.toJSONSchema(schema, { target: 'draft-7', io: 'input' }) as Record<string, unknown>;
  delete schemaJson['$schema'];
  return schemaJson;
}

/** Route schemas: what fastify validates before a handler runs (JSON bodies and query strings). */
export const ROUTE_SCHEMAS = Object.freeze({
  classify: { querystring: jsonSchema(classifyFields), body: { content: { 'application/json': { schema: jsonSchema(classifyJson) } } } },
  zeroShot: { querystring: jsonSchema(zeroShotFields), body: { content: { 'application/json': { schema: jsonSchema(zeroShotJson) } } } },
  embed: { querystring: jsonSchema(embedFields), body: { content: { 'application/json': { schema: jsonSchema(embedJson) } } } },
  openAiEmbeddings: { body: { content: { 'application/json': { schema: jsonSchema(openAiEmbeddingsJson) } } } },
  adminReload: { querystring: jsonSchema(noFields), body: { content: { 'application/json': { schema: jsonSchema(noFields) } } } },
  labelSets: { querystring: jsonSchema(noFields) },
  labelSet: { params: jsonSchema(labelSetParams), querystring: jsonSchema(labelSetQuery) },
  labelSetPut: {
    params: jsonSchema(labelSetParams),
    querystring: jsonSchema(labelSetQuery),
    body: { content: { 'application/json': { schema: jsonSchema(labelSetPutJson) }, 'text/plain': { schema: jsonSchema(labelSetText) } } },
  },
});

/** Schemas checked inside a handler: multipart form fields (the route's query schema) and v2 JSON headers. */
export const FORM_SCHEMAS = Object.freeze({
  classify: ROUTE_SCHEMAS.classify.querystring,
  zeroShot: ROUTE_SCHEMAS.zeroShot.querystring,
  embed: ROUTE_SCHEMAS.embed.querystring,
  v2Infer: jsonSchema(v2InferRequest),
});

/** A validated numeric field as a number (strings of digits become numbers). */
export function toInteger(value: number | string | undefined): number | undefined {
  return value === undefined || value === '' ? undefined : Number(value);
}

/** A validated version as the string the model repository keys on. */
export function toVersion(value: number | string | undefined): string | undefined {
  return value === undefined ? undefined : String(value);
}

/** A validated flag as a boolean, or undefined when absent (the server's default applies). */
export function toOptionalFlag(value: boolean | string | undefined): boolean | undefined {
  return value === undefined || value === '' ? undefined : toFlag(value);
}

/** A validated flag as a boolean (absent = false). */
export function toFlag(value: boolean | string | undefined): boolean {
  return value === true || value === 'true' || value === '1';
}
