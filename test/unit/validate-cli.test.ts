import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

function infctl(...args: string[]) {
  const run = spawnSync('./bin/infctl', args, { encoding: 'utf8' });
  return { code: run.status, out: run.stdout, err: run.stderr };
}

function fixture(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'infctl-validate-'));
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

describe('infctl validate', () => {
  it('accepts examples/ and warns about the gateway route to a service the examples never define', () => {
    const r = infctl('validate', 'examples/');
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.out,
      /inference-gateway\.yaml:1: InferenceGateway\/llm-gateway: spec\.routes\[1\]\.inferenceServiceRef: warning: InferenceService "mistral-agent-service" is not defined/,
    );
    assert.match(r.out, /0 error\(s\), 1 warning\(s\)/);
  });

  it('turns reference warnings into errors with --strict', () => {
    const r = infctl('validate', '--strict', 'examples/original');
    assert.equal(r.code, 1);
    assert.match(r.err, /spec\.routes\[1\]\.inferenceServiceRef: InferenceService "mistral-agent-service"/);
  });

  it('reports every problem of a multi-document file with file, document, kind/name, path and line', () => {
    const file = fixture(
      'bad.yaml',
      `apiVersion: production-stack.vllm.ai/v1alpha1
kind: InferenceCache
metadata:
  name: good-cache
spec:
  modelName: m
---
apiVersion: production-stack.vllm.ai/v1alpha1
kind: InferenceCache
metadata:
  name: bad-cache
spec:
  modelName: m
  kvCacheTransferPolicy:
    thresholdHitRate: 1.2
    evictionThreshold: nine
---
apiVersion: production-stack.vllm.ai/v1alpha1
kind: Gateway
metadata:
  name: x
`,
    );
    const r = infctl('validate', file);
    assert.equal(r.code, 1);
    const lines = r.err.trim().split('\n');
    assert.equal(lines.length, 3, r.err);
    assert.match(
      r.err,
      /bad\.yaml:2: InferenceCache\/bad-cache: spec\.kvCacheTransferPolicy\.thresholdHitRate: must be between 0 and 1 \(line 15\)/,
    );
    assert.match(
      r.err,
      /bad\.yaml:2: InferenceCache\/bad-cache: spec\.kvCacheTransferPolicy\.evictionThreshold: must be a number, not string "nine" \(line 16\)/,
    );
    assert.match(r.err, /bad\.yaml:3: Gateway\/x: kind: unknown kind "Gateway"/);
    assert.match(r.out, /1 valid resource\(s\), 3 error\(s\)/);
  });

  it('reports a cache whose model differs from its service, and a dangling cache reference', () => {
    const file = fixture(
      'refs.yaml',
      `apiVersion: production-stack.vllm.ai/v1alpha1
kind: InferenceService
metadata: {name: a}
spec: {modelName: llama, inferenceCacheRef: cache-a}
---
apiVersion: production-stack.vllm.ai/v1alpha1
kind: InferenceCache
metadata: {name: cache-a}
spec: {modelName: mistral, pddRef: nowhere}
`,
    );
    const r = infctl('validate', file);
    assert.equal(r.code, 0);
    assert.match(
      r.out,
      /InferenceService\/a: spec\.inferenceCacheRef: warning: InferenceCache "cache-a" manages model "mistral", but this service serves "llama"/,
    );
    assert.match(
      r.out,
      /InferenceCache\/cache-a: spec\.pddRef: warning: PrefillDecodingDisaggregation "nowhere" is not defined/,
    );
  });

  it('reports invalid YAML and missing files as errors', () => {
    const file = fixture('broken.yaml', 'kind: InferenceCache\nmetadata: {name: [\n');
    const r = infctl('validate', file, '/nonexistent/folder');
    assert.equal(r.code, 1);
    assert.match(r.err, /broken\.yaml:1: -: \(document\): invalid YAML/);
    assert.match(r.err, /\/nonexistent\/folder:0: -: \(document\): no such file or folder/);
  });

  it('prints machine-readable output with --output json', () => {
    const r = infctl('validate', '-o', 'json', 'examples/original');
    assert.equal(r.code, 0);
    const report = JSON.parse(r.out) as { resources: { kind: string }[]; problems: { severity: string }[] };
    assert.equal(report.resources.length, 5);
    assert.deepEqual(
      report.problems.map((p) => p.severity),
      ['warning'],
    );
  });
});
