/** Validates a HAR document against the HAR 1.2 JSON schemas of the har-schema package (with ajv). */
import { createRequire } from 'node:module';
import Ajv from 'ajv';

const require = createRequire(import.meta.url);

type Validate = ((doc: unknown) => boolean) & { errors?: unknown };
let validate: Validate | null = null;

export function harErrors(doc: unknown): string[] {
  if (!validate) {
    const schemas = require('har-schema') as Record<string, object>;
    const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
    ajv.addMetaSchema(require('ajv/dist/refs/json-schema-draft-06.json') as object);
    for (const [name, schema] of Object.entries(schemas)) if (name !== 'har') ajv.addSchema(schema);
    validate = ajv.compile(schemas.har!) as unknown as Validate;
  }
  if (validate!(doc)) return [];
  return ((validate!.errors as Array<{ instancePath: string; message: string }>) ?? []).map((e) => `${e.instancePath} ${e.message}`);
}
