// Bundles the /ops dashboard (TypeScript + uPlot from npm, no CDN) into dist/ops at build time.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'ops');
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { app: join(root, 'ops', 'dashboard', 'main.ts') },
  bundle: true,
  minify: true,
  sourcemap: true,
  format: 'esm',
  target: ['es2022'],
  outdir: out,
  logLevel: 'warning',
});
copyFileSync(join(root, 'ops', 'dashboard', 'index.html'), join(out, 'index.html'));
