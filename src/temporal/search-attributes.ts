import { defineSearchAttributeKey } from '@temporalio/common';

/** Search attributes the Temporal UI filters resource workflows by (registered by `infctl dev up`). */
export const CrKind = defineSearchAttributeKey('CrKind', 'KEYWORD');
export const CrNamespace = defineSearchAttributeKey('CrNamespace', 'KEYWORD');
export const CrName = defineSearchAttributeKey('CrName', 'KEYWORD');
export const ModelName = defineSearchAttributeKey('ModelName', 'KEYWORD');
export const Phase = defineSearchAttributeKey('Phase', 'KEYWORD');

/** Every search attribute above: the dev server and the tests' servers register these. */
export const SEARCH_ATTRIBUTES = [CrKind, CrNamespace, CrName, ModelName, Phase] as const;
