/**
 * Mail servers → the `mail {}` block, in nginx's mail directives (ngx_mail_* modules).
 */
import { type ConfDirective, directive as d } from '../../dataplane/core/tree.ts';
import type { MailServerModel } from '../model/mail.ts';

const AUTH_DIRECTIVE = { smtp: 'smtp_auth', imap: 'imap_auth', pop3: 'pop3_auth' } as const;

function on(v: boolean): string {
  return v ? 'on' : 'off';
}

/** renderMail returns the mail block, or nothing when there are no mail servers. */
export function renderMail(servers: MailServerModel[], listenAddress?: string): ConfDirective[] {
  if (servers.length === 0) return [];
  return [
    d(
      'mail',
      [],
      servers.map((s) => {
        const b: ConfDirective[] = [];
        b.push(d('listen', [listenAddress ? `${listenAddress}:${s.port}` : String(s.port), ...(s.tlsMode === 'implicit' ? ['ssl'] : [])]));
        b.push(d('protocol', [s.protocol]));
        if (s.serverName) b.push(d('server_name', [s.serverName]));
        if (s.certificate) {
          b.push(d('ssl_certificate', [`data:${s.certificate.cert}`]));
          b.push(d('ssl_certificate_key', [`data:${s.certificate.key}`]));
          if (s.tlsProtocols?.length) b.push(d('ssl_protocols', s.tlsProtocols));
        }
        if (s.tlsMode === 'starttls') b.push(d('starttls', ['on']));
        if (s.tlsMode === 'starttls-only') b.push(d('starttls', ['only']));
        if (s.authMethods?.length) b.push(d(AUTH_DIRECTIVE[s.protocol], s.authMethods));
        b.push(d('auth_http', [s.authUrl]));
        if (s.authTimeout) b.push(d('auth_http_timeout', [s.authTimeout]));
        for (const [n, v] of s.authHeaders) b.push(d('auth_http_header', [n, v]));
        if (s.passClientCert !== undefined) b.push(d('auth_http_pass_client_cert', [on(s.passClientCert)]));
        b.push(d('proxy', ['on']));
        const p = s.proxy_;
        if (p.passErrorMessage !== undefined) b.push(d('proxy_pass_error_message', [on(p.passErrorMessage)]));
        if (p.proxyProtocol !== undefined) b.push(d('proxy_protocol', [on(p.proxyProtocol)]));
        if (p.smtpAuth !== undefined && s.protocol === 'smtp') b.push(d('proxy_smtp_auth', [on(p.smtpAuth)]));
        if (p.xclient !== undefined && s.protocol === 'smtp') b.push(d('xclient', [on(p.xclient)]));
        if (p.timeout) b.push(d('proxy_timeout', [p.timeout]));
        if (p.bufferSize) b.push(d('proxy_buffer', [p.bufferSize]));
        if (s.clientTimeout) b.push(d('timeout', [s.clientTimeout]));
        if (s.maxErrors !== undefined) b.push(d('max_errors', [String(s.maxErrors)]));
        return d('server', [], b);
      }),
    ),
  ];
}
