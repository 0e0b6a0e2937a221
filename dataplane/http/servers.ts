/**
 * Virtual server selection for one listening address (ngx_http_find_virtual_server): exact names, then the
 * longest leading wildcard (`*.example.com`, `.example.com`), then the longest trailing wildcard
 * (`www.example.*`), then regexes in order of appearance; otherwise the address's default server.
 */
import type { CoreSrvConf } from './core-conf.ts';

/** ServerMatch is the server chosen for a host, with a regex name's captures if that is what matched. */
export interface ServerMatch {
  srv: CoreSrvConf;
  captures?: RegExpExecArray;
}

export class ServerNames {
  #exact = new Map<string, CoreSrvConf>();
  #head = new Map<string, CoreSrvConf>();
  #tail = new Map<string, CoreSrvConf>();
  #regex: { regex: RegExp; srv: CoreSrvConf }[] = [];
  readonly defaultServer: CoreSrvConf;
  /** Conflicts found while adding names: the caller logs them as nginx's `conflicting server name` warning. */
  readonly conflicts: string[] = [];

  constructor(servers: CoreSrvConf[], defaultServer: CoreSrvConf) {
    this.defaultServer = defaultServer;
    for (const srv of servers) {
      for (const n of srv.serverNames) {
        if (n.regex) {
          this.#regex.push({ regex: n.regex, srv });
          continue;
        }
        const name = n.name.toLowerCase();
        if (name.startsWith('*.')) this.#add(this.#head, name.slice(1), srv, n.name);
        else if (name.startsWith('.')) {
          this.#add(this.#head, name, srv, n.name);
          this.#add(this.#exact, name.slice(1), srv, n.name);
        } else if (name.endsWith('.*')) this.#add(this.#tail, name.slice(0, -1), srv, n.name);
        else this.#add(this.#exact, name, srv, n.name);
      }
    }
  }

  #add(map: Map<string, CoreSrvConf>, key: string, srv: CoreSrvConf, name: string): void {
    const cur = map.get(key);
    if (cur && cur !== srv) this.conflicts.push(name);
    else map.set(key, srv);
  }

  /** find returns the server for a lowercase host (without port). */
  find(host: string): ServerMatch {
    const exact = this.#exact.get(host);
    if (exact) return { srv: exact };
    if (this.#head.size > 0) {
      for (let i = host.indexOf('.'); i >= 0; i = host.indexOf('.', i + 1)) {
        const srv = this.#head.get(host.slice(i));
        if (srv) return { srv };
      }
    }
    if (this.#tail.size > 0) {
      for (let i = host.lastIndexOf('.'); i > 0; i = host.lastIndexOf('.', i - 1)) {
        const srv = this.#tail.get(host.slice(0, i + 1));
        if (srv) return { srv };
      }
    }
    for (const { regex, srv } of this.#regex) {
      const m = regex.exec(host);
      if (m) return { srv, captures: m };
    }
    return { srv: this.defaultServer };
  }
}
