/**
 * Command-line flags, with ingress-nginx's names where they mean the same. `--name=value` and `--name value`
 * both work; booleans also accept a bare `--name`. Every mistake is a UsageError with a message for the user.
 */

/** UsageError is a flag the user got wrong. */
export class UsageError extends Error {}

/** Flags are the parsed command line. */
export interface Flags {
  command: 'run' | 'conf' | 'help';
  httpPort: number;
  httpsPort: number;
  healthzPort: number;
  metricsPort: number;
  listenAddress?: string;
  ingressClass: string;
  controllerClass: string;
  watchIngressWithoutClass: boolean;
  watchNamespace: string[];
  publishService?: string;
  publishStatusAddress: string[];
  electionId: string;
  electionNamespace: string;
  leaseDuration: number;
  renewInterval: number;
  defaultSslCertificate?: string;
  defaultBackendService?: string;
  configmap?: string;
  kubeconfig?: string;
  manifests?: string;
  workerProcesses?: number | 'auto';
  dataplane: 'master' | 'none';
  debounceMs: number;
  logLevel: string;
}

type Kind = 'port' | 'string' | 'bool' | 'list' | 'ref' | 'seconds' | 'int';
const SPEC: Record<string, [keyof Flags, Kind, string]> = {
  'http-port': ['httpPort', 'port', 'port for HTTP traffic (default 80)'],
  'https-port': ['httpsPort', 'port', 'port for HTTPS traffic (default 443)'],
  'healthz-port': ['healthzPort', 'port', 'port for /healthz, /readyz and /conf (default 10254)'],
  'metrics-port': ['metricsPort', 'port', 'port for /metrics (default 10254, shared with healthz)'],
  'listen-address': ['listenAddress', 'string', 'address the dataplane binds (default: all)'],
  'ingress-class': ['ingressClass', 'string', 'IngressClass name served (default portico)'],
  'controller-class': ['controllerClass', 'string', 'spec.controller of IngressClasses served (default portico.dev/ingress-controller)'],
  'watch-ingress-without-class': ['watchIngressWithoutClass', 'bool', 'also serve Ingresses without any class'],
  'watch-namespace': ['watchNamespace', 'list', 'namespaces to watch, comma separated (default all)'],
  'publish-service': ['publishService', 'ref', 'namespace/name of the Service whose address goes into Ingress status'],
  'publish-status-address': ['publishStatusAddress', 'list', 'addresses (IPs or host names) written into Ingress status'],
  'election-id': ['electionId', 'string', 'name of the leader election Lease (default portico-leader)'],
  'election-namespace': ['electionNamespace', 'string', 'namespace of the Lease (default $POD_NAMESPACE or default)'],
  'lease-duration': ['leaseDuration', 'seconds', 'leader Lease duration in seconds (default 15)'],
  'renew-interval': ['renewInterval', 'seconds', 'leader Lease renew interval in seconds (default 2)'],
  'default-ssl-certificate': ['defaultSslCertificate', 'ref', 'namespace/name of the TLS Secret used as default certificate'],
  'default-backend-service': ['defaultBackendService', 'ref', 'namespace/name of the Service answering unmatched requests'],
  configmap: ['configmap', 'ref', 'namespace/name of the global settings ConfigMap'],
  kubeconfig: ['kubeconfig', 'string', 'kubeconfig file (default: in-cluster, then ~/.kube/config)'],
  manifests: ['manifests', 'string', 'folder mode: read manifests from this directory instead of an API server'],
  'worker-processes': ['workerProcesses', 'int', 'dataplane worker threads, or auto'],
  dataplane: ['dataplane', 'string', '"master" (default) or "none" (render only, for debugging)'],
  'debounce-ms': ['debounceMs', 'int', 'coalescing delay for bursts of changes (default 100)'],
  'log-level': ['logLevel', 'string', 'trace, debug, info, warn or error (default info)'],
};

/** usage is the --help text. */
export function usage(): string {
  const rows = Object.entries(SPEC).map(([name, [, kind, doc]]) => `  --${name}${kind === 'bool' ? '' : '=VALUE'}`.padEnd(36) + doc);
  return ['Usage: portico [run|conf] [flags]', '', '  run (default)  watch and serve;  conf  print the configuration as nginx.conf text', '', ...rows, ''].join('\n');
}

function value(name: string, kind: Kind, text: string): unknown {
  switch (kind) {
    case 'port': {
      const n = Number(text);
      if (!/^\d+$/.test(text) || n < 1 || n > 65535) throw new UsageError(`--${name}: "${text}" is not a port (1-65535)`);
      return n;
    }
    case 'int':
      if (name === 'worker-processes' && text === 'auto') return 'auto';
      if (!/^\d+$/.test(text) || Number(text) < (name === 'debounce-ms' ? 0 : 1)) throw new UsageError(`--${name}: "${text}" is not a positive integer`);
      return Number(text);
    case 'seconds':
      if (!/^\d+(\.\d+)?$/.test(text) || Number(text) <= 0) throw new UsageError(`--${name}: "${text}" is not a number of seconds`);
      return Number(text);
    case 'bool':
      if (text !== 'true' && text !== 'false') throw new UsageError(`--${name}: "${text}" is not true or false`);
      return text === 'true';
    case 'list':
      return text.split(',').map((s) => s.trim()).filter(Boolean);
    case 'ref':
      if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/.test(text)) throw new UsageError(`--${name}: "${text}" is not namespace/name`);
      return text;
    default:
      if (text === '') throw new UsageError(`--${name}: empty value`);
      return text;
  }
}

/** parseFlags parses argv (without node and script). */
export function parseFlags(argv: string[], env: NodeJS.ProcessEnv = process.env): Flags {
  const flags: Flags = {
    command: 'run', httpPort: 80, httpsPort: 443, healthzPort: 10254, metricsPort: 10254, ingressClass: 'portico', controllerClass: 'portico.dev/ingress-controller',
    watchIngressWithoutClass: false, watchNamespace: [], publishStatusAddress: [], electionId: 'portico-leader', electionNamespace: env['POD_NAMESPACE'] || 'default',
    leaseDuration: 15, renewInterval: 2, dataplane: 'master', debounceMs: 100, logLevel: 'info',
  };
  const args = [...argv];
  let metricsPortSet = false;
  if (args[0] === 'run' || args[0] === 'conf') flags.command = args.shift() as 'run' | 'conf';
  while (args.length) {
    const arg = args.shift()!;
    if (arg === '-h' || arg === '--help' || arg === 'help') return { ...flags, command: 'help' };
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument "${arg}" (flags start with --; see --help)`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const spec = SPEC[name];
    if (!spec) throw new UsageError(`unknown flag --${name} (see --help)`);
    const [field, kind] = spec;
    let text: string;
    if (eq >= 0) text = arg.slice(eq + 1);
    else if (kind === 'bool') text = args[0] === 'true' || args[0] === 'false' ? args.shift()! : 'true';
    else if (args.length === 0 || args[0]!.startsWith('--')) throw new UsageError(`--${name} needs a value`);
    else text = args.shift()!;
    (flags as unknown as Record<string, unknown>)[field] = value(name, kind, text);
    if (field === 'metricsPort') metricsPortSet = true;
  }
  if (!metricsPortSet) flags.metricsPort = flags.healthzPort;
  if (flags.dataplane !== 'master' && flags.dataplane !== 'none') throw new UsageError(`--dataplane: "${flags.dataplane}" is not master or none`);
  if (flags.manifests && flags.kubeconfig) throw new UsageError('--manifests and --kubeconfig exclude each other (folder mode or cluster mode)');
  if (flags.renewInterval >= flags.leaseDuration) throw new UsageError('--renew-interval must be shorter than --lease-duration');
  if (flags.httpPort === flags.httpsPort) throw new UsageError(`--http-port and --https-port are both ${flags.httpPort}`);
  return flags;
}
