// HTTPRoutePolicy: what Ingress annotations cannot say cleanly. It attaches to an Ingress (or to hosts) like a
// Gateway API policy attaches to a route, adds request matches on headers/methods/query that send traffic to
// weighted backends, rewrites or redirects it, and sets retries, timeouts, load balancing and rate limits.
// spec.policy applies to all traffic of the target; a rule's policy overrides it for the requests it matches.
import {
  AGE, DNS_LABEL, DNS_SUBDOMAIN, HOSTNAME, type Schema, bool, conditionColumn, crd, duration, enumOf, int, list, obj, serviceRef,
  str,
} from './schema.ts';

const HEADER_NAME = '^[A-Za-z0-9!#$%&\'*+.^_`|~-]{1,256}$';

function valueMatch(what: string, namePattern: string): Schema {
  return obj(
    `Match on one ${what}.`,
    {
      name: str(`Name of the ${what} (case-insensitive for headers).`, { pattern: namePattern, maxLength: 256 }),
      type: enumOf('Exact (default) or RegularExpression (PCRE-like, anchored by the author).', ['Exact', 'RegularExpression']),
      value: str('Value to compare.', { maxLength: 4096 }),
    },
    ['name', 'value'],
  );
}

const match = obj(
  'Conditions that all must hold (AND); a rule matches when any of its matches does (OR).',
  {
    path: obj(
      'Path match, with the Ingress path types plus regular expressions.',
      {
        type: enumOf('Exact, Prefix (element-wise, as in Ingress) or RegularExpression.', ['Exact', 'Prefix', 'RegularExpression']),
        value: str('The path or pattern.', { minLength: 1, maxLength: 1024 }),
      },
      ['type', 'value'],
      [{ rule: "self.type == 'RegularExpression' || self.value.startsWith('/')", message: 'Exact and Prefix paths must start with /' }],
    ),
    method: enumOf('HTTP method.', ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']),
    headers: list('Header matches.', valueMatch('header', HEADER_NAME), 16),
    queryParams: list('Query parameter matches.', valueMatch('query parameter', '^[^\\s&=]{1,256}$'), 16),
  },
);

const backend = obj(
  'A weighted backend; requests are split in proportion to the weights (smooth weighted round robin).',
  {
    service: serviceRef('The Service to send to; its EndpointSlice addresses are the upstream peers.'),
    weight: int('Relative weight; 0 drains the backend (default 1).', 0, 1000, { default: 1 }),
  },
  ['service'],
);

const rewrite = obj('Rewrite the request before proxying.', {
  path: obj(
    'Path rewrite. ReplaceFullPath replaces the whole path; ReplacePrefixMatch replaces the matched Prefix only.',
    {
      type: enumOf('Kind of rewrite.', ['ReplaceFullPath', 'ReplacePrefixMatch']),
      value: str('Replacement.', { maxLength: 1024, pattern: '^/[^\\s?#]*$' }),
    },
    ['type', 'value'],
  ),
  host: str('Host header sent upstream (as upstream-vhost).', { maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$' }),
});

const redirect = obj('Answer with a redirect instead of proxying.', {
  scheme: enumOf('Scheme of the Location (default the request\'s).', ['http', 'https']),
  host: str('Host of the Location (default the request\'s).', { maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$' }),
  port: int('Port of the Location.', 1, 65535),
  path: str('Path of the Location (default the request\'s).', { maxLength: 1024, pattern: '^/[^\\s#]*$' }),
  statusCode: { type: 'integer', description: 'Status code (default 302).', enum: [301, 302, 303, 307, 308], default: 302 },
});

const policy = obj('Traffic policy for the requests it applies to.', {
  timeouts: obj('Upstream timeouts.', {
    connect: duration('Connect timeout (`proxy_connect_timeout`, default 5s).'),
    send: duration('Timeout between two writes to the upstream (`proxy_send_timeout`, default 60s).'),
    read: duration('Timeout between two reads from the upstream (`proxy_read_timeout`, default 60s).'),
  }),
  retry: obj(
    'When to pass a request to the next peer (`proxy_next_upstream`).',
    {
      // Not `on`: YAML 1.1 parsers (kubectl, Helm) read an unquoted `on` key as the boolean true.
      conditions: list(
        'Conditions for a retry, in nginx\'s words; non_idempotent also retries POST and other non-idempotent methods.',
        enumOf('A retry condition.', ['error', 'timeout', 'invalid_header', 'http_500', 'http_502', 'http_503', 'http_504', 'http_403', 'http_404', 'http_429', 'non_idempotent']),
        11,
        { 'x-kubernetes-list-type': 'set' },
      ),
      attempts: int('Maximum tries, first included (`proxy_next_upstream_tries`, 0 = unlimited).', 0, 10),
      timeout: duration('Time limit for all tries (`proxy_next_upstream_timeout`).'),
    },
  ),
  loadBalancing: obj(
    'Peer selection (`load-balance` / `upstream-hash-by` annotations).',
    {
      algorithm: enumOf('round_robin (default), least_conn, ip_hash, hash, random or ewma (peak EWMA of latency).', [
        'round_robin', 'least_conn', 'ip_hash', 'hash', 'random', 'ewma',
      ]),
      hashKey: str('Key for hash, in nginx variables, e.g. $request_uri or $http_x_user.', { minLength: 1, maxLength: 256 }),
      consistent: bool('Ketama consistent hashing for hash (`hash … consistent`).'),
    },
    ['algorithm'],
    [
      { rule: "(self.algorithm == 'hash') == has(self.hashKey)", message: 'hashKey is required with algorithm hash and only allowed with it' },
      { rule: "!has(self.consistent) || self.algorithm == 'hash'", message: 'consistent is only allowed with algorithm hash' },
    ],
  ),
  rateLimit: obj(
    'Request and connection limits per key (`limit_req`, `limit_conn`).',
    {
      requestsPerSecond: int('Sustained requests per second per key.', 1, 1000000),
      requestsPerMinute: int('Sustained requests per minute per key.', 1, 1000000),
      burst: int('Requests above the rate that are accepted (default 5 times the rate, as ingress-nginx).', 0, 1000000),
      connections: int('Concurrent connections per key.', 1, 1000000),
      key: str('Key, in nginx variables (default $binary_remote_addr).', { minLength: 1, maxLength: 256 }),
      statusCode: int('Status of rejected requests (`limit_req_status`, default 503 as nginx; 429 is common).', 400, 599),
    },
    [],
    [
      { rule: '!(has(self.requestsPerSecond) && has(self.requestsPerMinute))', message: 'set requestsPerSecond or requestsPerMinute, not both' },
      { rule: 'has(self.requestsPerSecond) || has(self.requestsPerMinute) || has(self.connections)', message: 'a rate limit needs requestsPerSecond, requestsPerMinute or connections' },
    ],
  ),
  bodySize: str('Maximum request body (`client_max_body_size`, e.g. 8m; 0 = unlimited).', { pattern: '^[0-9]{1,9}[kmg]?$', maxLength: 10 }),
});

const rule = obj(
  'Requests that match go to the rule\'s backends (or the target\'s own backend when none are given), rewritten ' +
    'or redirected, under the rule\'s policy.',
  {
    name: str('Name, used in status messages and metrics.', { maxLength: 63, pattern: DNS_LABEL }),
    matches: list('Any of these matches selects the request; none means every request of the target.', match, 8),
    backends: list('Weighted backends.', backend, 16, {
      minItems: 1,
      'x-kubernetes-validations': [{ rule: 'self.exists(b, !has(b.weight) || b.weight > 0)', message: 'at least one backend must have a weight above 0' }],
    }),
    rewrite,
    redirect,
    policy,
  },
  [],
  [
    { rule: '!has(self.redirect) || !(has(self.backends) || has(self.rewrite))', message: 'redirect cannot be combined with backends or rewrite' },
    {
      rule: "!has(self.rewrite) || !has(self.rewrite.path) || self.rewrite.path.type != 'ReplacePrefixMatch' || (has(self.matches) && self.matches.all(m, has(m.path) && m.path.type == 'Prefix'))",
      message: 'ReplacePrefixMatch needs every match to have a Prefix path',
    },
  ],
);

const spec = obj(
  'Desired routing and policy.',
  {
    targetRef: obj(
      'The Ingress this applies to, in the same namespace; rules apply under its hosts.',
      {
        kind: enumOf('Kind of the target.', ['Ingress']),
        name: str('Name of the Ingress.', { maxLength: 253, pattern: DNS_SUBDOMAIN }),
      },
      ['kind', 'name'],
    ),
    hosts: list('Hosts this applies to, exact or with one leading wildcard label, when no Ingress is targeted.', str('A host.', { maxLength: 253, pattern: HOSTNAME }), 16, {
      minItems: 1,
      'x-kubernetes-list-type': 'set',
    }),
    policy,
    rules: list('Routing rules, tried in order; the first that matches wins.', rule, 64, {
      'x-kubernetes-validations': [{ rule: 'self.all(r, !has(r.name) || self.exists_one(s, has(s.name) && s.name == r.name))', message: 'rule names must be unique' }],
    }),
  },
  [],
  [
    { rule: 'has(self.targetRef) != has(self.hosts)', message: 'exactly one of targetRef or hosts must be set' },
    { rule: 'has(self.targetRef) || (has(self.rules) && self.rules.all(r, has(r.backends) || has(r.redirect)))', message: 'with hosts, every rule needs backends or a redirect' },
  ],
);

/** HTTPROUTEPOLICY_CRD is the HTTPRoutePolicy CustomResourceDefinition. */
export const HTTPROUTEPOLICY_CRD = crd({
  kind: 'HTTPRoutePolicy',
  plural: 'httproutepolicies',
  shortNames: ['hrp'],
  description: 'HTTPRoutePolicy adds header/method/query matches, weighted backends, rewrites, redirects, retries, timeouts, load balancing and rate limits to an Ingress or to hosts.',
  spec,
  columns: [
    { name: 'Target', type: 'string', jsonPath: '.spec.targetRef.name', description: 'Targeted Ingress.' },
    conditionColumn('Accepted'),
    conditionColumn('Programmed'),
    AGE,
  ],
});
