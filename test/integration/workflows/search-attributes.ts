import { defineSearchAttributeKey } from '@temporalio/common';

export const CrKind = defineSearchAttributeKey('CrKind', 'KEYWORD');
export const CrName = defineSearchAttributeKey('CrName', 'KEYWORD');
