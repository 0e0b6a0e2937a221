/**
 * The pure pipeline shared by the reconcile loop, `portico conf` and the tests: store → model → ConfTree.
 */
import type { ConfTree } from '../dataplane/core/tree.ts';
import { type ModelOptions, buildModel } from './model/build.ts';
import type { Model } from './model/types.ts';
import { type RenderOptions, render } from './render/render.ts';
import type { Store } from './store.ts';

/** PipelineOptions are everything the pure steps depend on. */
export type PipelineOptions = ModelOptions & RenderOptions;

/** renderStore builds the model from the store and renders it. */
export function renderStore(store: Store, opts: PipelineOptions): { model: Model; tree: ConfTree } {
  const model = buildModel(store, { ...opts, reservedPorts: [opts.httpPort, opts.httpsPort] });
  return { model, tree: render(model, opts) };
}
