import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GatewayError } from '../../src/gateway/errors.ts';
import { cleanEngineMessage, engineError } from '../../src/gateway/proxy/engine-errors.ts';
import {
  ChatRequestSchema,
  checkJsonShape,
  DEFAULT_JSON_LIMITS,
  parseBody,
} from '../../src/gateway/request-body.ts';

const chat = (extra: Record<string, unknown> = {}) => ({
  model: 'm',
  messages: [{ role: 'user', content: 'hi' }],
  ...extra,
});
function rejection(raw: string): { code: string; param: string | null; message: string } {
  try {
    parseBody(ChatRequestSchema, Buffer.from(raw));
  } catch (err) {
    assert.ok(err instanceof GatewayError, String(err));
    assert.equal(err.status, 400);
    return { code: err.code, param: err.param, message: err.message };
  }
  assert.fail(`accepted ${raw.slice(0, 80)}`);
}

describe('request body limits', () => {
  it('counts depth and elements in one pass, strings and escapes included', () => {
    const limits = { maxDepth: 3, maxElements: 5 };
    checkJsonShape('{"a":[[1]],"b":"[[[[{{{{\\"]]]"}', limits);
    assert.throws(() => checkJsonShape('{"a":[[[1]]]}', limits), /deeper than 3/);
    checkJsonShape('[1,2,3,4,5]', limits);
    assert.throws(() => checkJsonShape('[1,2,3,4,5,6]', limits), /more than 5/);
    checkJsonShape('[[],{},[],{},[]]', limits); // empty containers are elements, not holders of one
  });

  it('ends a string at the first quote not escaped by an odd run of backslashes', () => {
    const limits = { maxDepth: 2, maxElements: 10 };
    // Two backslashes escape each other, so the quote after them ends the string and the [[[ is structure.
    assert.throws(() => checkJsonShape('{"a":"x\\\\","b":[[[1]]]}', limits), /deeper than 2/);
    // Three: the quote is escaped, the string goes on, and the brackets are text.
    checkJsonShape('{"a":"x\\\\\\"[[[","b":1}', limits);
    // A string that never ends is left to JSON.parse.
    checkJsonShape('{"a":"x\\"', limits);
    // Keys with escapes are compared decoded.
    assert.throws(() => checkJsonShape('{"model":1,"mod\\u0065l":2}', limits), /appears twice/);
  });

  it('rejects a 5,000-deep array in a message with json_too_deep, before parsing', () => {
    const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    const raw = `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x","x":${deep}}]}]}`;
    const error = rejection(raw);
    assert.equal(error.code, 'json_too_deep');
    assert.match(error.message, /deeper than 64 levels/);
  });

  it('rejects a huge array with json_too_large naming the limit', () => {
    const raw = JSON.stringify(chat({ logit_bias: Array.from({ length: 300_000 }, () => 0) }));
    const started = performance.now();
    const error = rejection(raw);
    assert.equal(error.code, 'json_too_large');
    assert.match(error.message, new RegExp(`more than ${DEFAULT_JSON_LIMITS.maxElements}`));
    assert.ok(performance.now() - started < 500, 'the scan is not linear');
  });

  it('rejects a second spelling of messages, prompt, input or model, and keys inside messages', () => {
    for (const [raw, key] of [
      [
        '{"model":"m","messages":[{"role":"user","content":"a"}],"Messages":[{"role":"user","content":"b"}]}',
        'Messages',
      ],
      [
        '{"model":"m","messages":[{"role":"user","content":"a"}],"messages":[{"role":"user","content":"b"}]}',
        'messages',
      ],
      ['{"model":"m","messages":[{"role":"user","content":"a"}],"messag\\u0065s":[]}', 'messages'],
      ['{"model":"m","messages":[{"role":"user","content":"a"}],"me\u017f\u017fages":[]}', 'meſſages'],
      ['{"model":"m","messages":[{"role":"user","content":"a"}],"MODEL":"x"}', 'MODEL'],
      ['{"model":"m","messages":[{"role":"user","content":"a"}],"Prompt":"x"}', 'Prompt'],
      ['{"model":"m","messages":[{"role":"user","content":"a","Content":"b"}]}', 'messages.0.Content'],
      [
        '{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a","TEXT":"b"}]}]}',
        'messages.0.content.0.TEXT',
      ],
    ] as const) {
      const error = rejection(raw);
      assert.equal(error.code, 'ambiguous_key', raw);
      assert.equal(error.param, key, raw);
    }
    // Nested objects that are not the prompt keep their own keys (a JSON schema may have "Name" and "name").
    parseBody(
      ChatRequestSchema,
      Buffer.from(
        JSON.stringify(
          chat({
            tools: [
              {
                type: 'function',
                function: { name: 'f', parameters: { properties: { Name: {}, name: {} } } },
              },
            ],
          }),
        ),
      ),
    );
  });

  it('validates sampling parameters with OpenAI codes naming the field', () => {
    for (const [extra, param, code] of [
      [{ max_tokens: -1 }, 'max_tokens', 'integer_below_min_value'],
      [{ max_tokens: 0 }, 'max_tokens', 'integer_below_min_value'],
      [{ max_tokens: 1e15 }, 'max_tokens', 'integer_above_max_value'],
      [{ max_tokens: 'abc' }, 'max_tokens', 'invalid_type'],
      [{ max_tokens: 1.5 }, 'max_tokens', 'invalid_type'],
      [{ max_completion_tokens: -5 }, 'max_completion_tokens', 'integer_below_min_value'],
      [{ n: 0 }, 'n', 'integer_below_min_value'],
      [{ temperature: 'hot' }, 'temperature', 'invalid_type'],
      [{ temperature: 2.5 }, 'temperature', 'decimal_above_max_value'],
      [{ top_p: -0.1 }, 'top_p', 'decimal_below_min_value'],
      [{ presence_penalty: 3 }, 'presence_penalty', 'decimal_above_max_value'],
      [{ frequency_penalty: -3 }, 'frequency_penalty', 'decimal_below_min_value'],
      [{ stream: 'yes' }, 'stream', 'invalid_type'],
      [{ stop: 5 }, 'stop', 'invalid_request'],
    ] as const) {
      const error = rejection(JSON.stringify(chat(extra)));
      assert.deepEqual([error.param, error.code], [param, code], JSON.stringify(extra));
      assert.ok(error.message.startsWith(`${param}: `), error.message);
    }
    const ok = parseBody(
      ChatRequestSchema,
      Buffer.from(
        JSON.stringify(
          chat({ max_tokens: 16, temperature: 0.7, top_p: 1, n: 1, stream: null, stop: ['\n'] }),
        ),
      ),
    );
    assert.equal(ok.max_tokens, 16);
  });
});

describe('engine errors', () => {
  it('keep the engine text in the OpenAI shape with a string code and no Go type names', () => {
    const body = Buffer.from(
      JSON.stringify({
        error: {
          message:
            'Failed to read and parse request body, json: cannot unmarshal string into Go struct field ChatCompletionsRequest.ChatCompletionsRequest.max_tokens of type int64',
          type: 'BadRequestError',
          param: null,
          code: 400,
        },
      }),
    );
    const error = JSON.parse(engineError(400, body, 'sim').body()) as { error: Record<string, unknown> };
    assert.deepEqual(error.error, {
      message: 'The engine could not read the request: max_tokens must be an integer, not a string.',
      type: 'invalid_request_error',
      param: 'max_tokens',
      code: 'invalid_request',
    });
    assert.equal(
      cleanEngineMessage('json: cannot unmarshal number into Go value of type main.Request').message,
      'The engine could not read the request: a value must be another type, not a number.',
    );
    const context = engineError(
      400,
      Buffer.from('{"error":{"message":"This model\'s maximum context length is 1024 tokens.","code":400}}'),
      'sim',
    );
    assert.equal(context.code, 'invalid_request');
    assert.match(context.message, /maximum context length is 1024/);
    assert.equal(engineError(503, Buffer.from('overloaded'), 'sim').code, 'upstream_unavailable');
    assert.equal(
      engineError(422, Buffer.from('{"detail":[{"loc":["body","n"],"msg":"bad n"}]}'), 'sim').param,
      'n',
    );
  });
});
