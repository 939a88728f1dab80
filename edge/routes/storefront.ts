/**
 * The storefront's pages (storefront/, built by Vite into dist/storefront at build time):
 * index.html for / and every client route (/p/{productId}, /cart, /orders/{orderId},
 * /seller, /login…), so a reload or a shared link lands on the right page; the hashed
 * scripts and style sheets under /assets/ cached for a year (their names change with
 * their content). Every file is read, and compressed (brotli and gzip), once at
 * start-up: the whole build is a few hundred kilobytes.
 *
 * Pages carry a Content-Security-Policy with no inline script (scripts from this origin
 * only; media also from the media store's public origin), nosniff and frame denial.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants as zlib, gzipSync } from 'node:zlib';
import type { Reply, RequestContext, Router } from '../http.js';
import type { EdgeDeps } from '../deps.js';
import { problems } from '../problems.js';

/** Paths the storefront's client router shows (storefront/src/router.ts); each answers index.html. */
export const CLIENT_ROUTES = [
  '/', '/search', '/p/:productId', '/cart', '/checkout', '/login', '/register', '/orders', '/orders/:orderId', '/seller',
] as const;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.map': 'application/json',
  '.png': 'image/png',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};
const COMPRESSIBLE = new Set(['.html', '.js', '.css', '.svg', '.json', '.map', '.txt']);

const IMMUTABLE = 'public, max-age=31536000, immutable';

/**
 * Scripts and styles from this origin only; pictures and videos from this origin (/media/…)
 * and from the media store's public origin when media are served from there
 * (S3_PUBLIC_BASE_URL); no frames, no plugins.
 */
export function contentSecurityPolicy(mediaOrigin: string | null = null): string {
  const media = mediaOrigin ? ` ${mediaOrigin}` : '';
  return [
    "default-src 'self'", "script-src 'self'", "style-src 'self'", `img-src 'self' data: blob:${media}`, `media-src 'self' blob:${media}`,
    "connect-src 'self'", "font-src 'self'", "object-src 'none'", "base-uri 'self'", "form-action 'self'", "frame-ancestors 'none'",
  ].join('; ');
}

/** The origin media URLs point at when they are not this site's own (null: /media/… here). */
function mediaOriginOf(publicBaseUrl: string | undefined): string | null {
  if (!publicBaseUrl) return null;
  try {
    return new URL(publicBaseUrl).origin;
  } catch {
    return null;
  }
}

const SECURITY_HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'same-origin',
  'cross-origin-opener-policy': 'same-origin',
};

interface Asset { type: string; raw: Buffer; gzip?: Buffer; br?: Buffer }

/** Every file of the build by its URL path ("/index.html", "/assets/index-1a2b3c.js"), compressed where it helps. */
export function loadStorefront(dir: string): Map<string, Asset> {
  const files = new Map<string, Asset>();
  if (!existsSync(dir)) return files;
  const walk = (folder: string, prefix: string) => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) { walk(path, `${prefix}${entry.name}/`); continue; }
      const ext = extname(entry.name);
      const raw = readFileSync(path);
      const asset: Asset = { type: TYPES[ext] ?? 'application/octet-stream', raw };
      if (COMPRESSIBLE.has(ext) && raw.length > 512) {
        asset.gzip = gzipSync(raw, { level: 9 });
        asset.br = brotliCompressSync(raw, { params: { [zlib.BROTLI_PARAM_QUALITY]: 11, [zlib.BROTLI_PARAM_SIZE_HINT]: raw.length } });
      }
      files.set(`${prefix}${entry.name}`, asset);
    }
  };
  walk(dir, '/');
  return files;
}

/** The content codings a client takes (Accept-Encoding), less those it refuses with q=0. */
function acceptedEncodings(header: string): Set<string> {
  const accepted = new Set<string>();
  for (const part of header.toLowerCase().split(',')) {
    const [name, ...params] = part.split(';').map((p) => p.trim());
    const q = params.find((p) => p.startsWith('q='));
    if (name && (q === undefined || Number(q.slice(2)) > 0)) accepted.add(name);
  }
  return accepted;
}

/** The best encoding the client takes (brotli, then gzip), or the file as is. */
function encoded(asset: Asset, acceptEncoding: string): { body: Buffer; encoding?: string } {
  const accepted = acceptedEncodings(acceptEncoding);
  if (asset.br && accepted.has('br')) return { body: asset.br, encoding: 'br' };
  if (asset.gzip && accepted.has('gzip')) return { body: asset.gzip, encoding: 'gzip' };
  return { body: asset.raw };
}

function serve(asset: Asset, ctx: RequestContext<unknown>, headers: Record<string, string>): Reply {
  const { body, encoding } = encoded(asset, ctx.headers['accept-encoding'] ?? '');
  return {
    status: 200, body, contentType: asset.type,
    headers: { ...headers, ...(asset.gzip ? { vary: 'Accept-Encoding' } : {}), ...(encoding ? { 'content-encoding': encoding } : {}) },
  };
}

export function storefrontRoutes(router: Router, deps: EdgeDeps, dir = fileURLToPath(new URL('../../storefront/', import.meta.url))): void {
  const files = loadStorefront(dir);
  const index = files.get('/index.html');
  if (!index) deps.log.warn({ dir }, 'the storefront is not built (run `npm run build`): its pages answer 503');

  const policy = contentSecurityPolicy(mediaOriginOf(deps.config.media.s3?.publicBaseUrl));
  const page = (ctx: RequestContext<unknown>): Reply => {
    if (!index) throw problems.unavailable('The storefront is not built: run `npm run build`', 60);
    return serve(index, ctx, { ...SECURITY_HEADERS, 'content-security-policy': policy, 'cache-control': 'no-cache' });
  };
  for (const pattern of CLIENT_ROUTES) {
    router.get(pattern, {
      summary: pattern === '/' ? 'The storefront (a page; its client routes answer the same page)' : `Storefront page ${pattern}`,
      access: 'anyone', headers: ['accept-encoding'], handler: page,
    });
  }

  router.get('/assets/:file', {
    summary: "The storefront's scripts and style sheets (content-hashed names, cached for a year)",
    access: 'anyone',
    headers: ['accept-encoding'],
    handler: (ctx) => {
      const asset = files.get(`/assets/${ctx.params.file ?? ''}`);
      if (!asset) throw problems.notFound(`Asset ${ctx.params.file}`);
      return serve(asset, ctx, { ...SECURITY_HEADERS, 'cache-control': IMMUTABLE });
    },
  });

  // Files of storefront/public (not hashed): revalidated, kept a day.
  for (const [path, asset] of files) {
    if (path === '/index.html' || path.startsWith('/assets/')) continue;
    router.get(path, {
      summary: `Storefront file ${path}`,
      access: 'anyone',
      headers: ['accept-encoding'],
      handler: (ctx) => serve(asset, ctx, { ...SECURITY_HEADERS, 'cache-control': 'public, max-age=86400' }),
    });
  }
}
