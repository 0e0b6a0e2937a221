/** Registry indexes the ordered module list: module → index, directive name → rows that declare it. */
import type { Directive, Module, ModuleType } from './module.ts';

export interface DirectiveRow {
  module: Module;
  directive: Directive;
}

export class Registry {
  readonly modules: readonly Module[];
  #index = new Map<Module, number>();
  #byName = new Map<string, DirectiveRow[]>();

  constructor(modules: readonly Module[]) {
    this.modules = modules;
    modules.forEach((m, i) => {
      if (this.#index.has(m)) throw new Error(`module ${m.name} is listed twice`);
      this.#index.set(m, i);
      for (const directive of m.directives ?? []) {
        const rows = this.#byName.get(directive.name) ?? [];
        rows.push({ module: m, directive });
        this.#byName.set(directive.name, rows);
      }
    });
  }

  index(m: Module): number {
    const i = this.#index.get(m);
    if (i === undefined) throw new Error(`module ${m.name} is not in the registry`);
    return i;
  }

  has(m: Module): boolean {
    return this.#index.has(m);
  }

  ofType(type: ModuleType): Module[] {
    return this.modules.filter((m) => m.type === type);
  }

  directives(name: string): readonly DirectiveRow[] | undefined {
    return this.#byName.get(name);
  }
}
