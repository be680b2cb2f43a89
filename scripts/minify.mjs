// Minifies the package's JavaScript in place (every .js under pkg/), as the
// last step of ./scripts/build: esbuild (a dev dependency in tests/) with
// identifiers shortened but function and class names kept, comments and
// whitespace gone, and an external source map beside each file (with the
// original text in it) so a stack trace still points into readable code.
// A page that loads the package without a bundler downloads this; a bundler
// would minify it anyway. The first-line `@ts-self-types` comment of
// wasm-bindgen's glue stays, since tools that read it expect it on top.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join, resolve } from 'node:path';

const root = resolve(new URL('..', import.meta.url).pathname);
const { transformSync } = createRequire(join(root, 'tests', 'package.json'))('esbuild');

function files(dir) {
  let out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out = out.concat(files(p));
    else if (name.endsWith('.js')) out.push(p);
  }
  return out;
}

let before = 0;
let after = 0;
for (const file of files(join(root, 'pkg'))) {
  const source = readFileSync(file, 'utf8');
  const head = /^\/\* @ts-self-types="[^"]+" \*\/\n/.exec(source)?.[0] ?? '';
  const name = basename(file);
  const out = transformSync(source, {
    loader: 'js', format: 'esm', minify: true, keepNames: true, sourcemap: 'external', sourcefile: name,
    // The browsers the wasm module needs anyway (reference types, private
    // methods): nothing the source uses is rewritten but class static blocks.
    target: ['chrome96', 'firefox93', 'safari15'],
  });
  const map = JSON.parse(out.map);
  map.file = name;
  // The kept first line shifts every generated line by one.
  if (head) map.mappings = `;${map.mappings}`;
  writeFileSync(file, `${head}${out.code}//# sourceMappingURL=${name}.map\n`);
  writeFileSync(`${file}.map`, JSON.stringify(map));
  before += source.length;
  after += head.length + out.code.length;
}
console.log(`build: JS minified, ${before} -> ${after} bytes (source maps beside each file)`);
