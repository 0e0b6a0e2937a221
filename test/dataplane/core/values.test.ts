/** Value parsers for directive arguments: sizes, times and flags with nginx's units and rules. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseFlag, parseSize, parseTime } from '../../../dataplane/core/values.ts';

test('sizes accept bytes and k/m/g units in either case', () => {
  assert.equal(parseSize('512'), 512);
  assert.equal(parseSize('10k'), 10 * 1024);
  assert.equal(parseSize('10K'), 10 * 1024);
  assert.equal(parseSize('1m'), 1024 * 1024);
  assert.equal(parseSize('2G'), 2 * 1024 ** 3);
});

test('sizes reject other units, signs and empty text', () => {
  for (const bad of ['', '1x', '-1', '1.5k', 'k', '1 k']) assert.equal(parseSize(bad), undefined, bad);
});

test('times combine units from larger to smaller, with or without spaces', () => {
  assert.equal(parseTime('500ms'), 500);
  assert.equal(parseTime('30s'), 30_000);
  assert.equal(parseTime('1h 30m'), 90 * 60_000);
  assert.equal(parseTime('1h30m'), 90 * 60_000);
  assert.equal(parseTime('1d 2h 3m 4s 5ms'), 86_400_000 + 2 * 3_600_000 + 3 * 60_000 + 4000 + 5);
});

test('a bare number of seconds or milliseconds follows the directive default unit', () => {
  assert.equal(parseTime('90'), 90_000);
  assert.equal(parseTime('90', 'ms'), 90);
});

test('times reject units out of order, repeated units and unknown units', () => {
  for (const bad of ['', '30m 1h', '1s 1s', '5x', 'ms', '1.5s']) assert.equal(parseTime(bad), undefined, bad);
});

test('flags are on and off, case-insensitively, and nothing else', () => {
  assert.equal(parseFlag('on'), true);
  assert.equal(parseFlag('OFF'), false);
  assert.equal(parseFlag('yes'), undefined);
  assert.equal(parseFlag(''), undefined);
});
