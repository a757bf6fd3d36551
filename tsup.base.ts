import type { Options } from 'tsup'

/** Every package builds the same way: ESM + CJS with types, for Node 20. */
export const tsupBase: Options = {
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  shims: true,
  target: 'node20',
}
