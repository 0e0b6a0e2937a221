import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { buildCycle } from '../../../dataplane/core/cycle.ts';
import { parseConfFile } from '../../../dataplane/core/parse.ts';
import type { HttpBlockConf } from '../../../dataplane/http/http-module.ts';
import { httpModule } from '../../../dataplane/http/http-module.ts';
import type { CoreLocConf } from '../../../dataplane/http/core-conf.ts';
import { httpCoreModule } from '../../../dataplane/http/core-module.ts';
import { createRegistry } from '../../../dataplane/modules.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

test('the default conf loads the bundled mime.types into the http block', () => {
  const file = path.join(ROOT, 'conf/nginx.conf');
  const registry = createRegistry();
  const cycle = buildCycle({ tree: parseConfFile(file), registry, prefix: ROOT, confFile: file });
  const http = cycle.confs[registry.index(httpModule)] as HttpBlockConf;
  const clcf = http.level!.loc[registry.index(httpCoreModule)] as CoreLocConf;
  assert.equal(clcf.types?.get('css'), 'text/css');
  assert.equal(clcf.types?.get('woff2'), 'font/woff2');
  assert.equal(clcf.types?.get('jpg'), 'image/jpeg');
  assert.equal(clcf.defaultType, 'application/octet-stream');
});
