import { defineConfig } from 'tsup'
import { tsupBase } from '../../tsup.base.ts'

export default defineConfig({
  ...tsupBase,
  // The bin and the ingest worker (a file of its own, started by path) run as ESM; the API in
  // src/index.ts is built for require() too, so a CommonJS program can start a collector.
  entry: ['src/index.ts', 'src/cli.ts', 'src/ingest-worker.ts'],
  format: ['esm', 'cjs'],
  dts: { entry: 'src/index.ts' },
  splitting: true,
  // @agent/core is not published: the little the collector uses (the histogram) is bundled in.
  noExternal: ['@agent/core'],
})
