import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { requestTexts } from '../../src/gateway/filters/request-texts.ts';

describe('the texts a request carries to the model', () => {
  it('chat: string contents, content-part texts, names and tool-call arguments', () => {
    const body = {
      model: 'm',
      messages: [
        { role: 'system', content: 'be brief' },
        {
          role: 'user',
          name: 'alice',
          content: [
            { type: 'text', text: 'look at this' },
            { type: 'image_url', image_url: { url: 'https://example.org/a.png' } },
            { type: 'text', text: 'and this' },
          ],
        },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{"ssn":"x"}' } }],
        },
        { role: 'assistant', function_call: { name: 'g', arguments: '{"a":1}' } },
        { role: 'tool', tool_call_id: 'c1', content: 'tool output' },
      ],
    };
    assert.deepEqual(requestTexts('chat', body), [
      'be brief',
      'look at this',
      'and this',
      'alice',
      '{"ssn":"x"}',
      '{"a":1}',
      'tool output',
    ]);
  });

  it('chat: keys in any letter case, because the engine reads them so', () => {
    const body = {
      model: 'm',
      messages: [{ role: 'user', content: 'first' }],
      Messages: [{ role: 'user', Content: 'second', NAME: 'bob' }],
      MESSAGES: [{ role: 'user', content: [{ type: 'text', Text: 'third' }] }],
    };
    assert.deepEqual(requestTexts('chat', body), ['first', 'second', 'bob', 'third']);
  });

  it('chat: ignores what is not text', () => {
    const body = {
      model: 'm',
      messages: [{ role: 'user', content: [null, 3, { type: 'text', text: 7 }] }, null],
    };
    assert.deepEqual(requestTexts('chat', body), []);
  });

  it('completions: a prompt string, every string of a prompt array, and the suffix; token ids carry no text', () => {
    assert.deepEqual(requestTexts('completion', { model: 'm', prompt: 'once', suffix: 'end' }), [
      'once',
      'end',
    ]);
    assert.deepEqual(requestTexts('completion', { model: 'm', prompt: ['a', 'b', 'c'] }), ['a', 'b', 'c']);
    assert.deepEqual(requestTexts('completion', { model: 'm', prompt: [1, 2, 3] }), []);
    assert.deepEqual(requestTexts('completion', { model: 'm', prompt: 'x', Prompt: 'y' }), ['x', 'y']);
  });

  it('embeddings: an input string or every string of an input array', () => {
    assert.deepEqual(requestTexts('embedding', { model: 'm', input: 'one' }), ['one']);
    assert.deepEqual(requestTexts('embedding', { model: 'm', input: ['one', 'two'] }), ['one', 'two']);
    assert.deepEqual(requestTexts('embedding', { model: 'm', input: [[1, 2]] }), []);
    assert.deepEqual(requestTexts('embedding', { model: 'm', Input: 'three' }), ['three']);
  });
});
