/**
 * Loads uWebSockets.js and refuses to run on its pure-JavaScript `ws` fallback:
 * the package silently falls back when its native binary does not load.
 */
import { createRequire } from 'node:module';
import type * as UWS from 'uWebSockets.js';

const require = createRequire(import.meta.url);

export function loadUws(): typeof UWS {
  if (process.env.UWS_USE_FALLBACK) throw new Error('UWS_USE_FALLBACK is set: the edge needs the native uWebSockets.js binary');
  const uws = require('uWebSockets.js') as typeof UWS;
  const nativeLoaded = Object.keys(require.cache).some((path) => /uws_[\w]+\.node$/.test(path));
  if (!nativeLoaded) {
    throw new Error(`uWebSockets.js native binary did not load for ${process.platform}-${process.arch} (ABI ${process.versions.modules}); refusing the slow fallback`);
  }
  return uws;
}
