/**
 * The Lua script loader, in the manner of BullMQ: each file in lua/ is one command,
 * named NAME-KEYCOUNT.lua; `-- @include NAME` lines pull in lua/includes/NAME.lua.
 * Scripts are read and defined once per connection; ioredis calls them by SHA
 * (EVALSHA) and falls back to EVAL on NOSCRIPT.
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';

export const SCRIPT_NAMES = [
  'reserve', 'queue', 'commit', 'release', 'sale-open', 'sale-close', 'available', 'counters',
  'stock-adjust', 'sale-update', 'quote', 'cart-put',
] as const;
export type ScriptName = (typeof SCRIPT_NAMES)[number];

interface ScriptSource { name: ScriptName; keys: number; lua: string }

function findLuaDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'lua');
    if (existsSync(join(candidate, 'reserve-6.lua'))) return candidate;
    dir = dirname(dir);
  }
  throw new Error('lua/ folder not found above ' + fileURLToPath(import.meta.url));
}

function expandIncludes(source: string, includesDir: string, seen = new Set<string>()): string {
  return source.replace(/^-- @include ([\w-]+)\s*$/gm, (_line, name: string) => {
    if (seen.has(name)) return '';
    seen.add(name);
    return expandIncludes(readFileSync(join(includesDir, `${name}.lua`), 'utf8'), includesDir, seen);
  });
}

let cached: ScriptSource[] | undefined;

export function loadScriptSources(): ScriptSource[] {
  if (cached) return cached;
  const luaDir = findLuaDir();
  const sources: ScriptSource[] = [];
  for (const file of readdirSync(luaDir)) {
    const match = /^([\w-]+)-(\d+)\.lua$/.exec(file);
    if (!match) continue;
    const name = match[1] as ScriptName;
    if (!SCRIPT_NAMES.includes(name)) throw new Error(`lua/${file} is not a known script`);
    const lua = expandIncludes(readFileSync(join(luaDir, file), 'utf8'), join(luaDir, 'includes'));
    sources.push({ name, keys: Number(match[2]), lua });
  }
  for (const name of SCRIPT_NAMES) {
    if (!sources.some((s) => s.name === name)) throw new Error(`lua script ${name} is missing`);
  }
  cached = sources;
  return sources;
}

/** Registers every script as a command on the connection. */
export function defineScripts(redis: Redis): void {
  for (const { name, keys, lua } of loadScriptSources()) {
    redis.defineCommand(name, { numberOfKeys: keys, lua });
  }
}

type ScriptReply = string | number | null | ScriptReply[];

/** Calls a loaded script by name. */
export function runScript(redis: Redis, name: ScriptName, keys: string[], args: (string | number)[]): Promise<ScriptReply> {
  const command = (redis as unknown as Record<string, (...a: (string | number)[]) => Promise<ScriptReply>>)[name];
  if (!command) throw new Error(`script ${name} was not defined on this connection`);
  return command.call(redis, ...keys, ...args);
}
