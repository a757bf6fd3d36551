import { copyFile } from 'node:fs/promises'
import { build, defineConfig } from 'tsup'
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
    // The export thread's file, beside the bundle and whole in itself: the thread loads only the HTTP
    // client, not the chunk that holds the agent. Built once the main entries (which clean dist/) are.
    await build({ ...tsupBase, entry: ['src/export-thread-worker.ts'], dts: false, clean: false, splitting: false, silent: true, config: false })
  },
})
