import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deviceLabel } from '../../packages/server/src/domain/device.js';
import { parseStrictJsonObject } from '../../packages/core/src/jwt/strict-json.js';

describe('device label', () => {
  it('names browser and system briefly', () => {
    assert.equal(
      deviceLabel('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36'),
      'Chrome 120 on Linux',
    );
    assert.equal(deviceLabel('Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1'), 'Safari 17 on iOS');
    assert.equal(deviceLabel(undefined), 'unknown');
  });

  it('never exceeds 64 bytes, even for long or multi-byte agents', () => {
    for (const ua of ['x'.repeat(5000), 'é'.repeat(100), '🙂'.repeat(40)]) {
      assert.ok(Buffer.byteLength(deviceLabel(ua)) <= 64);
    }
  });
});

describe('strict JSON objects', () => {
  it('parses plain objects', () => {
    assert.deepEqual(parseStrictJsonObject('{"a":1,"b":{"c":[1,{"d":2}]}}'), { a: 1, b: { c: [1, { d: 2 }] } });
  });
  it('refuses duplicate keys, also when spelled with escapes', () => {
    assert.throws(() => parseStrictJsonObject('{"sub":"a","sub":"b"}'));
    assert.throws(() => parseStrictJsonObject('{"sub":"a","s\\u0075b":"b"}'));
    assert.throws(() => parseStrictJsonObject('{"x":{"k":1,"k":2}}'));
  });
  it('allows equal keys in different objects and keys inside strings', () => {
    assert.deepEqual(parseStrictJsonObject('{"a":{"k":1},"b":{"k":2},"c":"\\"k\\":"}'), { a: { k: 1 }, b: { k: 2 }, c: '"k":' });
  });
  it('refuses non-objects and deep nesting', () => {
    for (const t of ['[]', 'null', '"x"', '1', 'nope', `{"a":${'['.repeat(50)}${']'.repeat(50)}}`]) assert.throws(() => parseStrictJsonObject(t), t);
  });
});
