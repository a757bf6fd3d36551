import type { Options } from 'tsup'

/** Every package builds the same way: ESM + CJS with types, for Node 20. */
export const tsupBase: Options = {
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  // The CommonJS build needs `import.meta.url` (where the preload and the
  // exit-time sender sit, which copy of the package is loaded): shimmed.
  shims: true,
  target: 'node20',
}
