/**
 * The end of every protocol's auth-state step (the shared tail of ngx_mail_*_auth_state): a finished login
 * goes to auth_http, an internal failure answers the protocol's temporary error, an invalid command answers
 * the protocol's error and returns to the command state, and an accepted STARTTLS switches to TLS once the
 * reply is out.
 */
import { startAuth } from './auth-http-module.ts';
import { RC, type Rc } from './mail.ts';
import type { MailSession } from './session.ts';

/** finishCommand sends the reply for `rc`; `compose` lets IMAP tag it. */
export function finishCommand(s: MailSession, rc: Rc, invalid: string, starttls: boolean, compose?: (rc: Rc) => string): void {
  switch (rc) {
    case RC.DONE:
      return startAuth(s);
    case RC.ERROR:
      return s.internalServerError();
    case RC.INVALID:
      s.mailState = 0;
      s.out = invalid;
  }
  s.send(compose ? compose(rc) : s.out);
  if (starttls && rc === RC.OK) {
    s.onRead = null;
    s.upgradeTls(() => {
      s.starttls = true;
      s.protocol.initProtocol(s);
    });
  }
}

/** enterAuthState starts reading commands (ngx_mail_*_init_protocol) with a command buffer of `size` bytes. */
export function enterAuthState(s: MailSession, size: number): void {
  s.action = 'in auth state';
  s.useBuffer(size);
  s.mailState = 0;
  s.setTimer(s.server.timeout);
  s.setReadHandler(() => s.authLoop());
}
