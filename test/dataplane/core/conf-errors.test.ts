/** `portico-dataplane -t` reports each class of configuration error with nginx's wording, file and line. */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Prefix, run } from '../../support/dataplane.ts';

const prefix = new Prefix();
after(() => prefix.remove());

/** check writes `text` as conf/<name>, runs -t on it, and asserts the single emerg line and exit 1. */
async function check(name: string, text: string, emerg: (file: string) => string): Promise<void> {
  const file = prefix.write(`conf/${name}`, text);
  const r = await run(['-t', '-p', prefix.dir, '-c', `conf/${name}`]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `nginx: [emerg] ${emerg(file)}\nnginx: configuration file ${file} test failed\n`);
}

describe('configuration errors', { concurrency: 4 }, () => {
  test('an unknown directive names the directive, file and line', () =>
    check('unknown.conf', 'events {}\n\nfoo bar;\n', (f) => `unknown directive "foo" in ${f}:3`));

  test('a directive outside its contexts is "not allowed here"', () =>
    check('context.conf', 'events {}\nworker_connections 10;\n', (f) => `"worker_connections" directive is not allowed here in ${f}:2`));

  test('a wrong argument count is "invalid number of arguments"', () =>
    check('arity.conf', 'events {}\nworker_processes 1 2;\n', (f) => `invalid number of arguments in "worker_processes" directive in ${f}:2`));

  test('a stray closing brace is unexpected "}"', () => check('brace.conf', 'events {}\n}\n', (f) => `unexpected "}" in ${f}:2`));

  test('an unclosed block is unexpected end of file', () =>
    check('eof.conf', 'events {\n  worker_connections 10;\n', (f) => `unexpected end of file, expecting "}" in ${f}:3`));

  test('a repeated single-valued directive is duplicate', () =>
    check('dup.conf', 'events {}\ndaemon off;\ndaemon on;\n', (f) => `"daemon" directive is duplicate in ${f}:3`));

  test('a bad flag value is an invalid value', () =>
    check('flag.conf', 'events {}\ndaemon maybe;\n', (f) => `invalid value "maybe" in "daemon" directive, it must be "on" or "off" in ${f}:2`));

  test('a bad number is an invalid value', () =>
    check('value.conf', 'events {}\nworker_processes many;\n', (f) => `invalid value "many" in "worker_processes" directive in ${f}:2`));

  test('a block directive without a block has no opening "{"', () =>
    check('open.conf', 'events;\n', (f) => `directive "events" has no opening "{" in ${f}:1`));

  test('a simple directive with a block is not terminated by ";"', () =>
    check('semi.conf', 'events {}\ndaemon off {}\n', (f) => `directive "daemon" is not terminated by ";" in ${f}:2`));

  test('a missing events block is reported', () => check('noevents.conf', 'daemon off;\n', () => 'no "events" section in configuration'));

  test('a missing include file names the include and where it was', () =>
    check('inc-missing.conf', 'events {}\ninclude missing.conf;\n', (f) =>
      `open() "${prefix.path('conf/missing.conf')}" failed (2: No such file or directory) in ${f}:2`));

  test('an error inside an included file names that file', async () => {
    prefix.write('conf/parts/bad.conf', '\nbogus;\n');
    await check('inc-bad.conf', 'events {}\ninclude parts/bad.conf;\n', () => `unknown directive "bogus" in ${prefix.path('conf/parts/bad.conf')}:2`);
  });

  test('a -g directive error names the command line', async () => {
    prefix.write('conf/g.conf', 'events {}\n');
    const r = await run(['-t', '-p', prefix.dir, '-c', 'conf/g.conf', '-g', 'bogus on;']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^nginx: \[emerg\] unknown directive "bogus" in command line\n/);
  });
});
