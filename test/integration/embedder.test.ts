import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { dot } from '../../src/gateway/embedding/embedder.ts';
import { MiniLmEmbedder } from '../../src/gateway/embedding/local-embedder.ts';
import { components } from '../helpers/components.ts';

describe('the built-in embedder (all-MiniLM-L6-v2 from the PyPI wheel)', () => {
  const dir = components('all-minilm-l6-v2')['all-minilm-l6-v2']!.paths['model.safetensors']!.replace(
    /\/model\.safetensors$/,
    '',
  );
  const embedder = new MiniLmEmbedder(dir);
  after(() => embedder.close());

  it('reproduces the similarities the sentence-transformers documentation prints for this model', async () => {
    const [weather, sunny, stadium] = await embedder.embed([
      'The weather is lovely today.',
      "It's so sunny outside!",
      'He drove to the stadium.',
    ]);
    assert.equal(weather!.length, 384);
    assert.equal(dot(weather!, sunny!).toFixed(4), '0.6660');
    assert.equal(dot(weather!, stadium!).toFixed(4), '0.1046');
    assert.equal(dot(sunny!, stadium!).toFixed(4), '0.1411');
    assert.ok(Math.abs(dot(weather!, weather!) - 1) < 1e-5, 'vectors are unit length');
  });

  it('puts a paraphrase above the semantic cache default threshold and an unrelated question far below', async () => {
    const [a, b, c] = await embedder.embed([
      'How do I reset my password?',
      'How can I reset my password?',
      'Which rivers flow through Germany?',
    ]);
    assert.ok(dot(a!, b!) > 0.9, `paraphrase ${dot(a!, b!)}`);
    assert.ok(dot(a!, c!) < 0.3, `unrelated ${dot(a!, c!)}`);
  });
});
