// Builds the demo web app (web/ at the repository root) into packages/server/demo/, which the
// server serves at /demo/ and the package ships. Bundled here, at build time, so that the server
// needs no bundler at run time.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const pkg = join(import.meta.dirname, '..');
const web = join(pkg, '..', '..', 'web');
const out = join(pkg, 'demo');
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(web, 'app.ts')],
  outfile: join(out, 'app.js'),
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  logLevel: 'warning',
});
for (const f of ['index.html', 'style.css']) copyFileSync(join(web, f), join(out, f));
