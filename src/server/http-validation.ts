// Schema validation of HTTP requests, translated into the error catalog: Ajv's errors (from
// fastify's route validation, or from a schema checked in a handler for multipart fields and v2
// JSON headers) become one 400 INVALID_ARGUMENT that names the field and the expected type.
import type { FastifyRequest, FastifySchemaValidationError } from 'fastify';
import { GatewayError, unknownField } from '../errors.js';

/**
 * Ajv options for the HTTP server: no type coercion (a number is not silently a string: the
 * schemas say where a string of digits is accepted), unknown fields are refused rather than
 * dropped, and errors carry their schema so the message can say what was expected.
 */
export const AJV_OPTIONS = Object.freeze({ coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false, verbose: true });

type Schema = Record<string, unknown>;
interface AjvError extends FastifySchemaValidationError {
  readonly parentSchema?: Schema;
  readonly data?: unknown;
}

/** fastify's `schemaErrorFormatter`: `dataVar` is "body", "querystring", "params" or "headers". */
export function schemaErrorFormatter(errors: FastifySchemaValidationError[], dataVar: string): Error {
  return validationError(errors, dataVar === 'querystring' ? 'parameter' : 'field');
}

/**
 * Checks `value` against `schema` with the route's Ajv (compiled once per schema) and throws the
 * catalog error if it does not match; `where` names what the fields are ("field", "parameter").
 */
export function validateFields(request: FastifyRequest, schema: Schema, value: unknown, where = 'field'): void {
  const validate = request.compileValidationSchema(schema);
  if (!validate(value)) throw validationError(validate.errors ?? [], where);
}

/** The error of the outermost failed check: Ajv reports the branches of an anyOf before the anyOf itself. */
function validationError(errors: readonly FastifySchemaValidationError[], where: string): GatewayError {
  const e: AjvError | undefined = errors.at(-1);
  if (!e) return new GatewayError('INVALID_ARGUMENT', `invalid request ${where}s`);
  const path = fieldPath(e.instancePath);
  const params = e.params;
  if (e.keyword === 'additionalProperties') {
    const accepted = Object.keys((e.parentSchema?.['properties'] as Schema | undefined) ?? {});
    return unknownField({ field: String(params['additionalProperty']), accepted, what: where === 'parameter' ? 'parameter' : 'field', inside: path });
  }
  if (e.keyword === 'required') {
    const name = [path, String(params['missingProperty'])].filter(Boolean).join('.');
    return new GatewayError('INVALID_ARGUMENT', `${where} "${name}" is required`);
  }
  const subject = path ? `${where} "${path}"` : `request ${where === 'parameter' ? 'query string' : 'body'}`;
  return new GatewayError('INVALID_ARGUMENT', `${subject} must be ${expected(e.parentSchema)}, got ${shown(e.data)}`);
}

/** "/inputs/0/name" -> "inputs[0].name" (JSON Pointer, RFC 6901 escapes). */
function fieldPath(pointer: string): string {
  let path = '';
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    path += /^[0-9]+$/.test(part) ? `[${part}]` : `${path ? '.' : ''}${part.slice(0, 64)}`;
  }
  return path;
}

/** What a schema accepts, in words: its description, else its type. */
function expected(schema: Schema | undefined): string {
  if (!schema) return 'valid';
  if (typeof schema['description'] === 'string') return schema['description'];
  const anyOf = schema['anyOf'] as Schema[] | undefined;
  if (anyOf) return anyOf.map(expected).join(' or ');
  const enumValues = schema['enum'] as unknown[] | undefined;
  if (enumValues) return `one of ${enumValues.map((v) => JSON.stringify(v)).join(', ')}`;
  const type = schema['type'];
  if (Array.isArray(type)) return type.map((t: unknown) => expected({ type: t })).join(' or ');
  switch (type) {
    case 'string':
      return schema['minLength'] ? 'a non-empty string' : 'a string';
    case 'integer':
      return schema['minimum'] === 1 ? 'a positive integer' : 'an integer';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'true or false';
    case 'array':
      return schema['items'] ? `an array (each item ${expected(schema['items'] as Schema)})` : 'an array';
    case 'object':
      return 'an object';
    default:
      return 'valid';
  }
}

/** A short, safe rendering of the offending value. */
function shown(value: unknown): string {
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return JSON.stringify(value)?.slice(0, 40) ?? typeof value;
}
