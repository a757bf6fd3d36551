import { defineConfig } from 'tsup'
import { tsupBase } from '../../tsup.base.ts'

export default defineConfig({
  ...tsupBase,
  // An app with a bin: ESM only; the ingest worker is a file of its own, started by path.
  entry: ['src/index.ts', 'src/cli.ts', 'src/ingest-worker.ts'],
  format: ['esm'],
  dts: { entry: 'src/index.ts' },
  splitting: true,
  // @agent/core is not published: the little the collector uses (the histogram) is bundled in.
  noExternal: ['@agent/core'],
})
