// The link checker (run by scripts/test): every relative link in every
// Markdown file of the repository resolves to a file in it, every #anchor
// to a heading of its target, every "PROTOCOL.md section N" citation in the
// sources and docs to a section of docs/PROTOCOL.md, and nothing points
// outside the repository or to a file a fresh clone lacks (built or
// git-ignored). Prints each broken link; exits 1 if there is one.
//   node scripts/check-links.mjs
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { execFileSync } from 'node:child_process';

const root = resolve(new URL('..', import.meta.url).pathname);
const SKIP_DIRS = new Set(['.git', 'node_modules', 'target', 'pkg', 'dist', 'test-output', 'data']);
const TEXT = /\.(md|rs|js|mjs|ts|toml|sh|html|json)$|^[^.]+$/;

function walk(dir, out = []) {
  for (const name of readdirSync(dir)) {
    if (SKIP_DIRS.has(name)) continue;
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) walk(p, out);
    else if (st.size < 2_000_000) out.push(p);
  }
  return out;
}

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to dashes. */
function slug(heading) {
  return heading.trim().toLowerCase()
    .replace(/<[^>]+>/g, '')
    .replace(/[`*_~]/g, '')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/[^\p{L}\p{N}\s-]/gu, '')
    .replace(/\s/g, '-');
}

const anchorCache = new Map();
function anchors(file) {
  if (!anchorCache.has(file)) {
    const seen = new Map();
    const set = new Set();
    let fenced = false;
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
      const m = !fenced && /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
      if (!m) continue;
      const base = slug(m[1]);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      set.add(n === 0 ? base : `${base}-${n}`);
    }
    anchorCache.set(file, set);
  }
  return anchorCache.get(file);
}

/** The links of a Markdown file outside code: inline, images, reference definitions. */
function links(text) {
  const out = [];
  let fenced = false;
  for (const [i, line] of text.split('\n').entries()) {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced;
      continue;
    }
    if (fenced) continue;
    const bare = line.replace(/`[^`]*`/g, '');
    for (const m of bare.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) out.push({ line: i + 1, target: m[1] });
    const def = /^\s*\[[^\]]+\]:\s*(\S+)/.exec(bare);
    if (def) out.push({ line: i + 1, target: def[1] });
  }
  return out;
}

// What a fresh clone holds: the files git tracks (and new ones not ignored).
// A link to a built or ignored file (pkg/, dist/) would break in a clone.
let inClone = null;
try {
  const listed = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: root, encoding: 'utf8' });
  inClone = new Set();
  for (const f of listed.split('\0').filter(Boolean)) {
    const parts = f.split('/');
    for (let i = 1; i <= parts.length; i += 1) inClone.add(join(root, ...parts.slice(0, i)));
  }
} catch {
  // Not a git checkout: every file on disk counts.
}
const exists = (p) => (inClone ? inClone.has(p) : existsSync(p));

const files = walk(root);
const problems = [];
const rel = (p) => relative(root, p);
let checked = 0;

for (const file of files.filter((f) => f.endsWith('.md'))) {
  for (const { line, target } of links(readFileSync(file, 'utf8'))) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
    checked += 1;
    const [path, anchor] = target.split('#');
    const dest = path ? resolve(dirname(file), decodeURIComponent(path)) : file;
    const where = `${rel(file)}:${line}: ${target}`;
    if (dest !== root && !dest.startsWith(root + sep)) {
      problems.push(`${where}: points outside the repository`);
      continue;
    }
    if (dest !== root && !exists(dest)) {
      problems.push(`${where}: ${rel(dest)} is not in the repository (a fresh clone has no such file)`);
      continue;
    }
    if (anchor && dest.endsWith('.md') && !anchors(dest).has(anchor)) {
      problems.push(`${where}: no heading #${anchor} in ${rel(dest)}`);
    }
  }
}

// The folder beside a development checkout that a clone does not have; the
// name is built here so that this file does not mention it itself.
const OUTSIDE_NAME = ['..', 'shared'].join('/');
const OUTSIDE = new RegExp(`${OUTSIDE_NAME.replace(/[./]/g, '\\$&')}\\b`);

// "PROTOCOL.md section N" citations, in every text file.
const protocol = join(root, 'docs', 'PROTOCOL.md');
const sections = new Set([...readFileSync(protocol, 'utf8').matchAll(/^## (\d+)\./gm)].map((m) => m[1]));
let citations = 0;
for (const file of files.filter((f) => TEXT.test(f.split(sep).pop()))) {
  const text = readFileSync(file, 'utf8');
  if (text.includes('\u0000')) continue;
  for (const [i, line] of text.split('\n').entries()) {
    if (OUTSIDE.test(line)) {
      problems.push(`${rel(file)}:${i + 1}: refers to ${OUTSIDE_NAME}, outside the repository`);
    }
    for (const m of line.matchAll(/PROTOCOL\.md,?\s+sections?\s+(\d+)(?:\s*(?:to|-|and)\s*(\d+))?/g)) {
      citations += 1;
      for (const n of [m[1], m[2]].filter(Boolean)) {
        if (!sections.has(n)) problems.push(`${rel(file)}:${i + 1}: cites PROTOCOL.md section ${n}, which docs/PROTOCOL.md does not have`);
      }
    }
  }
}

for (const p of problems) console.log(`check-links: ${p}`);
console.log(`check-links: ${checked} links in ${files.filter((f) => f.endsWith('.md')).length} Markdown files, ` +
  `${citations} PROTOCOL.md citations: ${problems.length ? `${problems.length} broken` : 'all resolve'}`);
process.exit(problems.length ? 1 : 0);
