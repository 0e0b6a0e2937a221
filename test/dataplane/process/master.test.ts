/** The master as a process: pid file, signals, reload and log reopening, as nginx's master behaves. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import { Prefix, Running, readIfExists, run, waitFor, waitForFile, waitForText } from '../../support/dataplane.ts';

const BASE = 'error_log logs/error.log notice;\ndaemon off;\nevents {}\n';

/** start runs a master in a fresh prefix and waits for its pid file. */
async function start(conf: string, args: string[] = []): Promise<{ p: Prefix; dp: Running; pid: number }> {
  const p = new Prefix();
  p.conf(conf);
  const dp = new Running(['-p', p.dir, ...args]);
  const pid = Number(await waitForFile(p.path('logs/nginx.pid')));
  return { p, dp, pid };
}

function log(p: Prefix): string {
  return readIfExists(p.path('logs/error.log'));
}

describe('master process', () => {
  test('writes the pid file once its workers are up, and QUIT removes it and exits 0', async () => {
    const { p, dp, pid } = await start('worker_processes 2;\n' + BASE);
    try {
      assert.equal(pid, dp.child.pid);
      assert.equal(p.read('logs/nginx.pid'), `${pid}\n`);
      assert.equal(log(p).match(/\[notice\] \d+#0: start worker process \d+\n/g)?.length, 2);
      dp.signal('SIGQUIT');
      assert.equal(await dp.exited, 0);
      assert.equal(p.exists('logs/nginx.pid'), false);
      const text = log(p);
      assert.match(text, /\[notice\] \d+#0: signal 3 \(SIGQUIT\) received, shutting down\n/);
      assert.equal(text.match(/\[notice\] \d+#\d+: gracefully shutting down\n/g)?.length, 3);
      assert.match(text, /\[notice\] \d+#0: exit\n$/);
    } finally {
      await dp.stop();
      p.remove();
    }
  });

  test('TERM exits at once and removes the pid file', async () => {
    const { p, dp } = await start(BASE);
    try {
      dp.signal('SIGTERM');
      assert.equal(await dp.exited, 0);
      assert.equal(p.exists('logs/nginx.pid'), false);
      assert.match(log(p), /signal 15 \(SIGTERM\) received, exiting\n[^]*\[notice\] \d+#0: exit\n$/);
    } finally {
      p.remove();
    }
  });

  test('a configuration error prints [emerg], exits 1 and writes no pid file', async () => {
    const p = new Prefix();
    p.conf('daemon off;\nevents {}\nworker_processes 0;\n');
    const r = await run(['-p', p.dir]);
    p.remove();
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `nginx: [emerg] invalid value "0" in "worker_processes" directive in ${p.path('conf/nginx.conf')}:3\n`);
    assert.equal(fs.existsSync(p.path('logs/nginx.pid')), false);
  });

  test('an unwritable pid file is an error at start', async () => {
    const p = new Prefix();
    p.conf('daemon off;\nevents {}\npid nowhere/x.pid;\n');
    const r = await run(['-p', p.dir]);
    p.remove();
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `nginx: [emerg] open() "${p.path('nowhere/x.pid')}" failed (2: No such file or directory)\n`);
  });

  test('an error log that cannot be opened is an error at start', async () => {
    const p = new Prefix();
    p.conf('daemon off;\nevents {}\nerror_log nolog/error.log;\n');
    const r = await run(['-p', p.dir]);
    p.remove();
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `nginx: [emerg] open() "${p.path('nolog/error.log')}" failed (2: No such file or directory)\n`);
    assert.equal(fs.existsSync(p.path('logs/nginx.pid')), false);
  });

  test('-s reload makes the master reconfigure; a broken config is logged as [emerg] and the master lives on', async () => {
    const { p, dp, pid } = await start(BASE);
    try {
      p.conf(BASE + 'worker_processes 2;\nunknown_thing on;\n');
      dp.signal('SIGHUP');
      await waitForText('emerg', () => log(p), `[emerg] ${pid}#0: unknown directive "unknown_thing" in ${p.path('conf/nginx.conf')}:5`);
      assert.equal(log(p).match(/start worker process \d/g)?.length, 1);
      p.conf('worker_processes 2;\n' + BASE);
      assert.equal((await run(['-s', 'reload', '-p', p.dir])).code, 0);
      await waitFor('a second worker', () => log(p).match(/start worker process \d/g)?.length === 2);
      assert.match(log(p), /signal 1 \(SIGHUP\) received, reconfiguring\n.*\[notice\] \d+#0: reconfiguring\n/);
      assert.equal((await run(['-s', 'quit', '-p', p.dir])).code, 0);
      assert.equal(await dp.exited, 0);
    } finally {
      await dp.stop();
      p.remove();
    }
  });

  test('USR1 reopens a renamed error log', async () => {
    const { p, dp } = await start('worker_processes 2;\n' + BASE);
    try {
      fs.renameSync(p.path('logs/error.log'), p.path('logs/error.log.1'));
      dp.signal('SIGUSR1');
      const old = await waitFor('three reopen notices', () => p.read('logs/error.log.1').match(/\[notice\] \d+#\d+: reopening logs\n/g)?.length === 3);
      assert.ok(old);
      assert.match(p.read('logs/error.log.1'), /signal 10 \(SIGUSR1\) received, reopening logs\n/);
      await waitFor('a new error.log', () => p.exists('logs/error.log'));
      dp.signal('SIGQUIT');
      await dp.exited;
      assert.match(log(p), /\[notice\] \d+#0: signal 3 \(SIGQUIT\) received, shutting down\n/);
      assert.doesNotMatch(p.read('logs/error.log.1'), /SIGQUIT/);
    } finally {
      await dp.stop();
      p.remove();
    }
  });

  test('master_process off serves from the master thread alone', async () => {
    const { p, dp } = await start('master_process off;\nworker_processes 4;\n' + BASE);
    try {
      dp.signal('SIGQUIT');
      assert.equal(await dp.exited, 0);
      const text = log(p);
      assert.doesNotMatch(text, /start worker process/);
      assert.match(text, /\[notice\] \d+#0: gracefully shutting down\n/);
    } finally {
      p.remove();
    }
  });

  test('-e sends the error log to stderr when the config names none', async () => {
    const p = new Prefix();
    p.conf('daemon off;\nevents {}\nerror_log stderr notice;\n');
    const dp = new Running(['-p', p.dir, '-e', 'stderr']);
    try {
      await waitForText('start notice on stderr', () => dp.stderr, /\[notice\] \d+#0: start worker process \d+\n/);
      assert.equal(p.exists('logs/error.log'), false);
    } finally {
      await dp.stop();
      p.remove();
    }
  });

  test('-e and pid paths resolve against the prefix', async () => {
    const p = new Prefix();
    p.conf('daemon off;\nevents {}\npid run.pid;\n');
    const dp = new Running(['-p', p.dir, '-e', 'boot.log']);
    try {
      await waitForFile(p.path('run.pid'));
      assert.ok(p.exists('boot.log'));
      assert.equal(p.exists('logs/error.log'), false);
    } finally {
      await dp.stop();
      p.remove();
    }
  });

  test('daemon on returns once the master is ready, and -s stop ends it', async () => {
    const p = new Prefix();
    p.conf('error_log logs/error.log notice;\nevents {}\n');
    const r = await run(['-p', p.dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const pid = Number(p.read('logs/nginx.pid'));
    try {
      assert.ok(pid > 0);
      process.kill(pid, 0);
      assert.equal((await run(['-s', 'stop', '-p', p.dir])).code, 0);
      await waitFor('the daemon to exit', () => !p.exists('logs/nginx.pid'));
    } finally {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone, as it should be.
      }
      p.remove();
    }
  });
});
