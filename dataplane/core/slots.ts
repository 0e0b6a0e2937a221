/**
 * Generic directive setters (nginx's ngx_conf_set_*_slot): each stores one parsed value in one field of the
 * conf and reports a duplicate when the field is already set. `create` leaves fields undefined, which is
 * nginx's UNSET; merge fills them.
 */
import type { ConfCtx } from './conf.ts';
import type { Directive } from './module.ts';
import type { ConfDirective } from './tree.ts';
import { parseFlag, parseKeyval, parseNumber, parseSize, parseTime } from './values.ts';

type Setter = Directive['set'];
type Conf = Record<string, any>;

function slot(field: string, read: (cf: ConfCtx, d: ConfDirective) => unknown): Setter {
  return (cf, d, conf: Conf) => {
    if (conf[field] !== undefined) return 'is duplicate';
    conf[field] = read(cf, d);
  };
}

/** flagSlot stores `on`/`off` as a boolean. */
export function flagSlot(field: string): Setter {
  return slot(field, (cf, d) => {
    const v = parseFlag(d.args[0]!);
    if (v === undefined) cf.error(`invalid value "${d.args[0]}" in "${d.name}" directive, it must be "on" or "off"`);
    return v;
  });
}

/** numSlot stores a non-negative integer. */
export function numSlot(field: string): Setter {
  return (cf, d, conf: Conf) => {
    if (conf[field] !== undefined) return 'is duplicate';
    const v = parseNumber(d.args[0]!);
    if (v === undefined) return 'invalid number';
    conf[field] = v;
  };
}

/** sizeSlot stores bytes from `512`, `8k`, `1m`. */
export function sizeSlot(field: string): Setter {
  return (cf, d, conf: Conf) => {
    if (conf[field] !== undefined) return 'is duplicate';
    const v = parseSize(d.args[0]!);
    if (v === undefined) return 'invalid value';
    conf[field] = v;
  };
}

/** msecSlot stores milliseconds; a bare number means milliseconds (ngx_conf_set_msec_slot). */
export function msecSlot(field: string): Setter {
  return timeSlot(field, 'ms');
}

/** secSlot stores milliseconds; a bare number means seconds (ngx_conf_set_sec_slot). */
export function secSlot(field: string): Setter {
  return timeSlot(field, 's');
}

function timeSlot(field: string, unit: 'ms' | 's'): Setter {
  return (cf, d, conf: Conf) => {
    if (conf[field] !== undefined) return 'is duplicate';
    const v = parseTime(d.args[0]!, unit);
    if (v === undefined) return 'invalid value';
    conf[field] = v;
  };
}

/** strSlot stores the argument as written (variables are compiled later by the module that uses them). */
export function strSlot(field: string): Setter {
  return slot(field, (_cf, d) => d.args[0]!);
}

/** pathSlot stores a path resolved against the prefix. */
export function pathSlot(field: string): Setter {
  return slot(field, (cf, d) => cf.fullPath(d.args[0]!));
}

/** enumSlot stores the value mapped through `values`; anything else is `invalid value "x"`. */
export function enumSlot<T>(field: string, values: Record<string, T>): Setter {
  return slot(field, (cf, d) => {
    const key = d.args[0]!.toLowerCase();
    if (!Object.hasOwn(values, key)) cf.error(`invalid value "${d.args[0]}"`);
    return values[key];
  });
}

/** bitmaskSlot ORs the bits of every argument; `off` alone may map to 0 if listed. */
export function bitmaskSlot(field: string, bits: Record<string, number>): Setter {
  return slot(field, (cf, d) => {
    let mask = 0;
    for (const a of d.args) {
      const key = a.toLowerCase();
      if (!Object.hasOwn(bits, key)) cf.error(`invalid value "${a}"`);
      mask |= bits[key]!;
    }
    return mask;
  });
}

/** keyvalSlot appends `key value` pairs (e.g. `env`-like lists); repeated directives accumulate. */
export function keyvalSlot(field: string): Setter {
  return (_cf, d, conf: Conf) => {
    (conf[field] ??= []).push([d.args[0]!, d.args[1] ?? '']);
  };
}

/** keyEqValSlot appends `key=value` arguments. */
export function keyEqValSlot(field: string): Setter {
  return (cf, d, conf: Conf) => {
    for (const a of d.args) {
      const kv = parseKeyval(a);
      if (!kv) cf.error(`invalid value "${a}"`);
      (conf[field] ??= []).push(kv);
    }
  };
}

/** strArraySlot appends every argument of every occurrence. */
export function strArraySlot(field: string): Setter {
  return (_cf, d, conf: Conf) => {
    (conf[field] ??= []).push(...d.args);
  };
}
