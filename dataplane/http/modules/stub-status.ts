/**
 * ngx_http_stub_status_module: `stub_status;` answers with nginx's plain-text counters (active connections,
 * accepts, handled, requests, reading, writing, waiting), summed over every worker through a shared zone;
 * `$connections_*` variables expose the gauges.
 */
import { ARGS, CTX } from '../../core/module.ts';
import type { CoreLocConf } from '../core-conf.ts';
import { httpCoreModule } from '../core-module.ts';
import { httpMainConf } from '../http-module.ts';
import type { HttpRequest } from '../request.ts';
import { HttpStats, STAT, STATS_ZONE } from '../stats.ts';
import { defineHttpModule, type VariableDef } from '../types.ts';

function gauges(r: HttpRequest): { active: bigint; reading: bigint; writing: bigint; waiting: bigint } | undefined {
  const st = r.http.main.stats;
  if (!st) return undefined;
  const active = st.get(STAT.ACTIVE);
  const reading = st.get(STAT.READING);
  const writing = st.get(STAT.WRITING);
  const waiting = active - reading - writing;
  return { active, reading, writing, waiting: waiting < 0n ? 0n : waiting };
}

function stubStatus(r: HttpRequest): number {
  if (r.method !== 'GET' && r.method !== 'HEAD') return 405;
  r.conn.discardBody(r);
  const st = r.http.main.stats!;
  const g = gauges(r)!;
  const text =
    `Active connections: ${g.active} \n` +
    'server accepts handled requests\n' +
    ` ${st.get(STAT.ACCEPTED)} ${st.get(STAT.HANDLED)} ${st.get(STAT.REQUESTS)} \n` +
    `Reading: ${g.reading} Writing: ${g.writing} Waiting: ${g.waiting} \n`;
  return r.respond(200, 'text/plain', Buffer.from(text));
}

const gauge = (name: string, pick: 'active' | 'reading' | 'writing' | 'waiting'): VariableDef => ({
  name,
  nocache: true,
  get: (r) => {
    const g = gauges(r);
    return g === undefined ? undefined : String(g[pick]);
  },
});

export const httpStubStatusModule = defineHttpModule({
  name: 'ngx_http_stub_status_module',
  type: 'http',
  configureArg: '--with-http_stub_status_module',
  variables: [
    gauge('connections_active', 'active'),
    gauge('connections_reading', 'reading'),
    gauge('connections_writing', 'writing'),
    gauge('connections_waiting', 'waiting'),
  ],
  directives: [
    {
      name: 'stub_status',
      contexts: CTX.HTTP_SRV | CTX.HTTP_LOC,
      args: ARGS.NOARGS | ARGS.TAKE1,
      conf: 'loc',
      set(cf) {
        (cf.level.loc![cf.index(httpCoreModule)] as CoreLocConf).handler = stubStatus;
        const cmcf = httpMainConf(cf);
        cmcf.stats ??= new HttpStats(cf.zones.get(STATS_ZONE.name, STATS_ZONE.size, STATS_ZONE.tag));
      },
    },
  ],
});
