// Builds tracker/src into ONE minified IIFE at haina/web/static/t.js. The first line records
// the version and a hash of the sources, which tests/tracker/test_bundle.py checks against
// tracker/src, so a stale build fails the tests without needing node.
import { build } from 'esbuild'
import { createHash } from 'node:crypto'
import { readFileSync, readdirSync, mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const srcDir = join(here, 'src')
const out = join(here, '..', 'haina', 'web', 'static', 't.js')

const pkgVersion = JSON.parse(readFileSync(join(here, 'package.json'), 'utf8')).version
const srcVersion = /VERSION = '([^']+)'/.exec(readFileSync(join(srcDir, 'version.js'), 'utf8'))[1]
if (pkgVersion !== srcVersion) throw new Error(`package.json ${pkgVersion} != src/version.js ${srcVersion}`)

// Concatenate the sources sorted by file name (code-point order), as the Python test does.
const files = readdirSync(srcDir).filter((f) => f.endsWith('.js')).sort()
const hash = createHash('sha256')
for (const f of files) hash.update(readFileSync(join(srcDir, f)))
const srcHash = hash.digest('hex').slice(0, 16)

mkdirSync(dirname(out), { recursive: true })
await build({
  entryPoints: [join(srcDir, 'index.js')],
  outfile: out,
  bundle: true,
  format: 'iife',
  minify: true,
  target: ['es2018'],
  legalComments: 'none',
  banner: { js: `/* haina.js ${srcVersion} src:${srcHash} */` },
  logLevel: 'info',
})
