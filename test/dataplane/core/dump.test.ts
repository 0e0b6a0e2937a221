/** `-T` prints the effective configuration, which parses back to the same tree; includes follow globs. */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { parseConfFile, parseConfString } from '../../../dataplane/core/parse.ts';
import { stripPositions } from '../../../dataplane/core/tree.ts';
import { Prefix, run } from '../../support/dataplane.ts';

const prefix = new Prefix();
after(() => prefix.remove());

test('-T output parses back to the same tree, quotes, escapes and includes included', async () => {
  prefix.write('conf/conf.d/b.conf', 'env "B=two words";\n');
  prefix.write('conf/conf.d/a.conf', "env 'A=semi;colon';   # comment\n");
  prefix.write('conf/conf.d/skip.txt', 'not included;\n');
  const file = prefix.conf(
    [
      '# main',
      'worker_processes 2;',
      'env "Q=\\"quoted\\" and \\\\ back";',
      'env E=${braced}x;',
      'include conf.d/*.conf;',
      'events {',
      '    worker_connections 64;',
      '}',
      '',
    ].join('\n'),
  );
  const r = await run(['-T', '-p', prefix.dir]);
  assert.equal(r.code, 0, r.stderr);
  const header = `# configuration file ${file}:\n`;
  assert.ok(r.stdout.startsWith(header), r.stdout);
  const printed = parseConfString(r.stdout.slice(header.length), 'dump', { confPrefix: prefix.path('conf') });
  const parsed = parseConfFile(file);
  assert.deepEqual(stripPositions(printed), stripPositions(parsed));
  assert.deepEqual(
    parsed.filter((d) => d.name === 'env').map((d) => d.args[0]),
    ['Q="quoted" and \\ back', 'E=${braced}x', 'A=semi;colon', 'B=two words'],
  );
});

test('-g directives are part of the effective configuration', async () => {
  prefix.conf('events {}\n');
  const r = await run(['-T', '-q', '-p', prefix.dir, '-g', 'worker_processes 3; daemon off;']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.match(r.stdout, /\nworker_processes 3;\ndaemon off;\n/);
});
