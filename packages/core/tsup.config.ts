import { copyFile } from 'node:fs/promises'
import { defineConfig } from 'tsup'
import { tsupBase } from '../../tsup.base.ts'

export default defineConfig({
  ...tsupBase,
  entry: ['src/index.ts', 'src/internal.ts', 'src/preload.ts', 'src/cli.ts'],
  // One copy of the agent's modules behind every entry, in CommonJS too: the
  // preload and the internal entry share the chunks a CommonJS app loads.
  splitting: true,
  // tsup turns ESM chunks into CommonJS with sucrase, which also lowers `?.`, `??` and class
  // fields into helper calls that allocate on every request (arrays and closures: +1.1 KB per
  // Nest request); rollup, which tree shaking brings in, converts the chunks and leaves them as they are.
  treeshake: true,
  // The exit-time sender's child runs as a file of its own, beside the bundle.
  async onSuccess() {
    await copyFile('src/exit-sender-child.cjs', 'dist/exit-sender-child.cjs')
  },
})
