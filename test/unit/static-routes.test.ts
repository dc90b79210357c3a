import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseStaticConfig } from '../../src/gateway/routes/static-source.ts';

describe('static route files', () => {
  it('parses the documented example into routes with the gateway-wide and per-model routing', () => {
    const file = 'examples/gateway/local.routes.yaml';
    const { snapshot } = parseStaticConfig(readFileSync(file, 'utf8'), file);
    const [llama, mistral] = snapshot.routes;
    assert.equal(llama!.model, 'llama3-70b');
    assert.equal(llama!.routing.routeStrategy, 'PrefixHash');
    assert.equal(llama!.routing.loadBound, 1.25);
    assert.deepEqual(
      llama!.targets[0]!.endpoints.map((e) => e.name),
      ['llama3-0', 'llama3-1'],
    );
    assert.deepEqual(
      llama!.targets[0]!.filters.promptGuard!.map((p) => (p.kind === 'detector' ? p.detector : p.source)),
      ['SSN', 'CreditCard', 'internal project \\w+'],
    );
    assert.equal(llama!.targets[0]!.filters.semanticCache!.redisUrl, 'redis://127.0.0.1:6379');
    assert.equal(mistral!.routing.routeStrategy, 'SessionAffinity');
    assert.equal(mistral!.routing.schedulingPolicy, 'gpu-load-aware');
    assert.deepEqual(
      mistral!.targets[0]!.endpoints.map((e) => e.role),
      ['prefill', 'decode'],
    );
  });

  it('names the file and the field of every problem', () => {
    const text = [
      'routeStrategy: Fastest',
      'models:',
      '  - model: m',
      '    services:',
      '      - name: s',
      '        endpoints: [{ url: "ftp//x" }]',
    ].join('\n');
    assert.throws(
      () => parseStaticConfig(text, 'routes.yaml'),
      (err: Error) => {
        assert.match(err.message, /^routes\.yaml: routeStrategy: /m);
        assert.match(
          err.message,
          /^routes\.yaml: models\.0\.services\.0\.endpoints\.0\.url: must be an http\(s\) URL/m,
        );
        return true;
      },
    );
    assert.throws(() => parseStaticConfig('models: [', 'bad.yaml'), /bad\.yaml: not valid YAML/);
    assert.throws(
      () => parseStaticConfig('models: []', 'empty.yaml'),
      /empty\.yaml: models: must list at least one model/,
    );
  });
});
