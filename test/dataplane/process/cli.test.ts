/** The command line behaves as nginx's: flags, messages on stderr with the `nginx: ` prefix, exit codes. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { Prefix, ROOT, run } from '../../support/dataplane.ts';

const prefix = new Prefix();
after(() => prefix.remove());
const conf = prefix.conf('events {}\n');
const version = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version;

describe('command line', { concurrency: 4 }, () => {
  test('-t reports syntax ok and test successful on stderr', async () => {
    const r = await run(['-t', '-p', prefix.dir]);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, `nginx: the configuration file ${conf} syntax is ok\nnginx: configuration file ${conf} test is successful\n`);
  });

  test('-q silences -t on success but not errors', async () => {
    const ok = await run(['-tq', '-p', prefix.dir]);
    assert.equal(ok.code, 0);
    assert.equal(ok.stderr, '');
    const bad = await run(['-t', '-q', '-p', prefix.dir, '-g', 'nope;']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^nginx: \[emerg\] unknown directive "nope" in command line\n/);
  });

  test('-v prints the version', async () => {
    const r = await run(['-v']);
    assert.equal(r.code, 0);
    assert.equal(r.stderr, `nginx version: portico/${version}\n`);
  });

  test('-V adds the runtime and a configure arguments line with the prefix', async () => {
    const r = await run(['-V', '-p', prefix.dir]);
    assert.equal(r.code, 0);
    const lines = r.stderr.split('\n');
    assert.equal(lines[0], `nginx version: portico/${version}`);
    assert.equal(lines[1], `built with Node.js ${process.version}`);
    assert.match(lines[2]!, new RegExp(`^configure arguments: --prefix=${prefix.dir}( --with(out)?-\\S+)*$`));
  });

  test('-h prints usage with every flag', async () => {
    const r = await run(['-h']);
    assert.equal(r.code, 0);
    for (const flag of ['-?,-h', '-v', '-V', '-t', '-T', '-q', '-s signal', '-p prefix', '-e filename', '-c filename', '-g directives']) {
      assert.ok(r.stderr.includes(`  ${flag} `), flag);
    }
  });

  test('an unknown flag is an invalid option', async () => {
    const r = await run(['-x']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'nginx: invalid option: "x"\n');
  });

  test('a word that is not a flag is an invalid option', async () => {
    const r = await run(['stop']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'nginx: invalid option: "stop"\n');
  });

  test('a flag missing its value says what it requires', async () => {
    assert.equal((await run(['-c'])).stderr, 'nginx: option "-c" requires file name\n');
    assert.equal((await run(['-p'])).stderr, 'nginx: option "-p" requires directory name\n');
    assert.equal((await run(['-g'])).stderr, 'nginx: option "-g" requires parameter\n');
  });

  test('-s accepts only stop, quit, reopen and reload', async () => {
    const r = await run(['-s', 'restart']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'nginx: invalid option: "-s restart"\n');
  });

  test('-s without a running master reports the missing pid file', async () => {
    const r = await run(['-s', 'reload', '-p', prefix.dir]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `nginx: [error] open() "${prefix.path('logs/nginx.pid')}" failed (2: No such file or directory)\n`);
  });

  test('-s with a garbage pid file reports an invalid PID number', async () => {
    const p = new Prefix();
    p.conf('events {}\n');
    p.write('logs/nginx.pid', 'abc\n');
    const r = await run(['-s', 'quit', '-p', p.dir]);
    p.remove();
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `nginx: [error] invalid PID number "abc" in "${p.path('logs/nginx.pid')}"\n`);
  });

  test('-s checks the configuration first', async () => {
    const r = await run(['-s', 'quit', '-p', prefix.dir, '-g', 'pid']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^nginx: \[emerg\] unexpected end of file, expecting ";" or "}" in command line\n/);
  });

  test('-p and -c resolve relative paths: -p against the working directory, -c against the prefix', async () => {
    const p = new Prefix();
    const file = p.write('etc/other.conf', 'events {}\n');
    const r = await run(['-t', '-p', path.basename(p.dir), '-c', 'etc/other.conf'], { cwd: path.dirname(p.dir) });
    p.remove();
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stderr.includes(`the configuration file ${file} syntax is ok`), r.stderr);
  });

  test('includes resolve against the config file folder, not the prefix', async () => {
    const p = new Prefix();
    p.write('etc/events.conf', 'events {}\n');
    p.write('etc/main.conf', 'include events.conf;\n');
    const r = await run(['-t', '-p', p.dir, '-c', 'etc/main.conf']);
    p.remove();
    assert.equal(r.code, 0, r.stderr);
  });
});
