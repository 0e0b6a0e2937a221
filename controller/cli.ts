/**
 * `portico`: runs the controller with its dataplane (`run`, the default), or prints the configuration as
 * nginx.conf text (`conf`: from --manifests, or the live one from a running controller's healthz port).
 */
import { printConf } from '../dataplane/core/print.ts';
import { Controller, StartupError, formatScan, pipelineOptions } from './app.ts';
import { type Flags, UsageError, parseFlags, usage } from './flags.ts';
import { MasterSink } from './master-sink.ts';
import { renderStore } from './pipeline.ts';
import { redactTree } from './render/peers.ts';
import type { DataplaneSink } from './sink.ts';
import { scanManifests } from './sources/folder.ts';
import { Store } from './store.ts';

async function conf(f: Flags): Promise<number> {
  if (!f.manifests) {
    const url = `http://${f.listenAddress ?? '127.0.0.1'}:${f.healthzPort}/conf`;
    try {
      const r = await fetch(url);
      process.stdout.write(await r.text());
      return r.ok ? 0 : 1;
    } catch (e) {
      process.stderr.write(`portico: no running controller at ${url} (${(e as Error).cause ?? (e as Error).message}); use --manifests DIR to render a folder\n`);
      return 1;
    }
  }
  const scan = scanManifests(f.manifests);
  for (const w of scan.warnings) process.stderr.write(`warning: ${w}\n`);
  if (scan.errors.length) {
    process.stderr.write(formatScan(scan) + '\n');
    return 1;
  }
  const store = new Store();
  store.replaceAll(scan.objects);
  const { model, tree } = renderStore(store, pipelineOptions(f));
  for (const e of model.events) process.stderr.write(`${e.type.toLowerCase()}: ${e.object.kind} ${e.object.namespace ?? ''}/${e.object.name}: ${e.reason}: ${e.message}\n`);
  process.stdout.write(printConf(redactTree(tree)));
  return 0;
}

const noDataplane: DataplaneSink = { apply: async () => ({ ok: true }) };

async function main(argv: string[]): Promise<number> {
  let f: Flags;
  try {
    f = parseFlags(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`portico: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  if (f.command === 'help') {
    process.stdout.write(usage());
    return 0;
  }
  if (f.command === 'conf') return conf(f);
  let c: Controller;
  try {
    c = await Controller.start(f, f.dataplane === 'none' ? noDataplane : new MasterSink());
  } catch (e) {
    if (e instanceof StartupError) {
      process.stderr.write(`portico: cannot start:\n${e.message}\n`);
      return 1;
    }
    throw e;
  }
  await new Promise<void>((resolve) => {
    const bye = (sig: string) => {
      c.log.info({ signal: sig }, 'shutting down');
      void c.stop().then(resolve);
    };
    process.once('SIGTERM', () => bye('SIGTERM'));
    process.once('SIGINT', () => bye('SIGINT'));
  });
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
