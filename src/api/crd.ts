import { Document, isScalar, visit } from 'yaml';
import { z } from 'zod';
import { DNS1123_LABEL, GROUP, VERSION } from './common.ts';
import { CATEGORY, KINDS, type KindInfo } from './kinds.ts';

type JsonSchema = { [key: string]: unknown };

const SAFE_INT = Number.MAX_SAFE_INTEGER;

/**
 * Turns zod's OpenAPI 3.0 output into a Kubernetes structural schema: no additionalProperties:false (the API
 * server prunes unknown fields instead), free-form objects marked x-kubernetes-preserve-unknown-fields, no
 * JavaScript-only patterns, no unions.
 */
function structural(node: unknown, path: string): unknown {
  if (Array.isArray(node)) return node.map((item, i) => structural(item, `${path}[${i}]`));
  if (node === null || typeof node !== 'object') return node;
  const schema = { ...(node as JsonSchema) };
  delete schema.$schema;
  for (const union of ['anyOf', 'oneOf', 'allOf', 'not']) {
    if (union in schema) throw new Error(`${path}: "${union}" is not allowed in a structural schema`);
  }
  if (schema.additionalProperties === false) delete schema.additionalProperties;
  if (schema['x-kubernetes-preserve-unknown-fields'] === true) {
    delete schema.additionalProperties;
    schema.type = 'object';
  }
  if ('const' in schema) {
    schema.enum = [schema.const];
    delete schema.const;
  }
  if (schema.maximum === SAFE_INT) delete schema.maximum;
  if (schema.minimum === -SAFE_INT) delete schema.minimum;
  // zod adds a JavaScript regular expression to date-times; Kubernetes checks the format itself.
  if (schema.format === 'date-time') delete schema.pattern;
  if (schema.type === undefined && schema['x-kubernetes-preserve-unknown-fields'] !== true) {
    throw new Error(`${path}: every node of a structural schema needs a type`);
  }
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'properties') {
      out.properties = Object.fromEntries(
        Object.entries(value as JsonSchema).map(([name, child]) => [
          name,
          structural(child, `${path}.${name}`),
        ]),
      );
    } else if (key === 'items' || key === 'additionalProperties') {
      out[key] = structural(value, `${path}.${key}`);
    } else {
      out[key] = value;
    }
  }
  return out;
}

function openApiSchema(info: KindInfo): JsonSchema {
  const raw = z.toJSONSchema(info.schema, {
    target: 'openapi-3.0',
    io: 'input',
    unrepresentable: 'throw',
  }) as JsonSchema;
  const properties = raw.properties as JsonSchema;
  return {
    description: info.description,
    type: 'object',
    required: ['spec'],
    properties: {
      apiVersion: {
        description: 'APIVersion defines the versioned schema of this representation of an object.',
        type: 'string',
      },
      kind: {
        description: 'Kind is a string value representing the REST resource this object represents.',
        type: 'string',
      },
      metadata: { type: 'object' },
      spec: structural(properties.spec, `${info.kind}.spec`),
      status: structural(properties.status, `${info.kind}.status`),
    },
    'x-kubernetes-validations': [
      {
        rule: `size(self.metadata.name) <= 63 && self.metadata.name.matches('${DNS1123_LABEL.source}')`,
        message: 'metadata.name must be a DNS-1123 label of at most 63 characters (it names a Service)',
        reason: 'FieldValueInvalid',
      },
    ],
  };
}

function customResourceDefinition(info: KindInfo) {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${info.plural}.${GROUP}`,
      labels: { 'app.kubernetes.io/part-of': 'inference-controller' },
    },
    spec: {
      group: GROUP,
      names: {
        kind: info.kind,
        listKind: `${info.kind}List`,
        plural: info.plural,
        singular: info.singular,
        shortNames: info.shortNames,
        categories: [CATEGORY],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: info.printerColumns,
          schema: { openAPIV3Schema: openApiSchema(info) },
        },
      ],
    },
  };
}

function crdFileName(info: KindInfo): string {
  return `${GROUP}_${info.plural}.yaml`;
}

/** Every CRD as the YAML text that `crds/` holds, keyed by file name. */
export function renderCrds(): Map<string, string> {
  const files = new Map<string, string>();
  for (const info of KINDS) {
    const doc = new Document(customResourceDefinition(info), { aliasDuplicateObjects: false });
    // Lists of scalars (required, enum, shortNames) on one line: `required: [spec]`.
    visit(doc, {
      Seq: (_, seq) => {
        if (seq.items.every(isScalar)) seq.flow = true;
      },
    });
    const body = doc.toString({ lineWidth: 0, flowCollectionPadding: false });
    files.set(crdFileName(info), `# Generated from src/api by \`make crds\`; do not edit.\n---\n${body}`);
  }
  return files;
}
