// MailProxy: the mail{} block of nginx as a Kubernetes resource. Each listener becomes a mail server{} with
// `listen`, `protocol`, `starttls`/`ssl` and `*_auth`; spec.auth becomes `auth_http`. Field docs say which
// nginx directive a field renders to, so behaviour can be checked against nginx's documentation.
import {
  AGE, DNS_LABEL, HOSTNAME, bool, conditionColumn, crd, duration, enumOf, int, list, obj, secretRef, serviceRef, str,
} from './schema.ts';

const tls = obj(
  'TLS for this listener. implicit: TLS from the first byte (`listen … ssl`, ports 465/993/995); starttls: offered ' +
    '(`starttls on`); starttls-only: required before authentication (`starttls only`).',
  {
    mode: enumOf('How TLS is negotiated.', ['implicit', 'starttls', 'starttls-only']),
    secretRef,
    protocols: list('Allowed TLS versions (`ssl_protocols`); default TLSv1.2 and TLSv1.3.', enumOf('A TLS version.', ['TLSv1.2', 'TLSv1.3']), 2, {
      'x-kubernetes-list-type': 'set',
    }),
  },
  ['mode', 'secretRef'],
);

const listener = obj(
  'One port on which Portico accepts mail clients.',
  {
    name: str('Unique name of the listener, used in status and metrics.', { maxLength: 63, pattern: DNS_LABEL }),
    port: int('Port Portico listens on (`listen`).', 1, 65535),
    protocol: enumOf('Mail protocol spoken on the port (`protocol`).', ['smtp', 'imap', 'pop3']),
    tls,
    authMethods: list(
      'Authentication methods offered to clients (`smtp_auth`, `imap_auth`, `pop3_auth`). apop is POP3 only, ' +
        'login is SMTP and IMAP only, none is SMTP only (relay without authentication).',
      enumOf('An authentication method.', ['plain', 'login', 'cram-md5', 'external', 'apop', 'none']),
      6,
      { 'x-kubernetes-list-type': 'set' },
    ),
  },
  ['name', 'port', 'protocol'],
  [
    { rule: "!has(self.authMethods) || !('apop' in self.authMethods) || self.protocol == 'pop3'", message: 'apop is only valid with protocol pop3' },
    { rule: "!has(self.authMethods) || !('login' in self.authMethods) || self.protocol != 'pop3'", message: 'login is not valid with protocol pop3' },
    { rule: "!has(self.authMethods) || !('none' in self.authMethods) || self.protocol == 'smtp'", message: 'none is only valid with protocol smtp' },
  ],
);

const auth = obj(
  'The authentication service (`auth_http`): Portico asks it to authenticate each client and to name the ' +
    'upstream mail server (the Auth-Status / Auth-Server / Auth-Port protocol of nginx). Exactly one of service or url.',
  {
    service: serviceRef('A Service in the same namespace that answers the auth_http protocol.', {
      path: str('Request path (default /auth).', { maxLength: 1024, pattern: '^/[^\\s?#]*$' }),
    }),
    url: str('Full http:// or https:// URL of the auth service, for one outside the cluster.', { maxLength: 2048, pattern: '^https?://[^\\s/?#]+(/[^\\s#]*)?$' }),
    timeout: duration('Time to wait for the auth service (`auth_http_timeout`, default 60s).'),
    headers: list(
      'Extra request headers sent to the auth service (`auth_http_header`).',
      obj('One header.', {
        name: str('Header name.', { pattern: '^[A-Za-z0-9-]{1,64}$', maxLength: 64 }),
        value: str('Header value.', { maxLength: 1024 }),
      }, ['name', 'value']),
      16,
      { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] },
    ),
    passClientCertificate: bool('Send the client certificate to the auth service (`auth_http_pass_client_cert`).'),
  },
  [],
  [{ rule: 'has(self.service) != has(self.url)', message: 'exactly one of service or url must be set' }],
);

const spec = obj(
  'Desired mail proxy.',
  {
    listeners: list('Ports Portico accepts mail on; names and ports are unique.', listener, 16, {
      minItems: 1,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
      'x-kubernetes-validations': [{ rule: 'self.all(l, self.exists_one(m, m.port == l.port))', message: 'listener ports must be unique' }],
    }),
    serverName: str('Name used in greetings and EHLO (`server_name`); default the pod hostname.', { maxLength: 253, pattern: HOSTNAME }),
    auth,
    proxy: obj('How sessions are relayed to the upstream mail server once authenticated.', {
      passErrorMessage: bool('Pass the upstream\'s error messages to the client (`proxy_pass_error_message`).'),
      proxyProtocol: bool('Send the PROXY protocol header to the upstream (`proxy_protocol`).'),
      smtpAuth: bool('Authenticate to an SMTP upstream with the client\'s credentials (`proxy_smtp_auth`).'),
      xclient: bool('Send XCLIENT to an SMTP upstream (`xclient`, default true).'),
      timeout: duration('Idle time after which a relayed session is closed (`proxy_timeout`, default 24h).'),
      bufferSize: str('Per-session proxy buffer (`proxy_buffer`, default 16k).', { pattern: '^[0-9]{1,6}[km]?$', maxLength: 8 }),
    }),
    timeouts: obj('Client-side timeouts.', {
      client: duration('Time to wait for the client before authentication completes (`timeout`, default 60s).'),
    }),
    maxErrors: int('Protocol errors after which the session is closed (`max_errors`, 0 = unlimited).', 0, 1000),
  },
  ['listeners', 'auth'],
);

/** MAILPROXY_CRD is the MailProxy CustomResourceDefinition. */
export const MAILPROXY_CRD = crd({
  kind: 'MailProxy',
  plural: 'mailproxies',
  shortNames: ['mp'],
  description: 'MailProxy runs SMTP, IMAP and POP3 listeners in Portico\'s dataplane that authenticate clients against an auth service and relay them to the mail server it names.',
  spec,
  columns: [
    { name: 'Auth', type: 'string', jsonPath: '.spec.auth.service.name', description: 'Auth service.', priority: 1 },
    conditionColumn('Accepted'),
    conditionColumn('Programmed'),
    AGE,
  ],
});
