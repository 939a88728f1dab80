/**
 * What product media may be: the content types taken, their kind (image or video), the
 * size limits per kind, and the check of a file's first bytes (its magic numbers)
 * against the type it was declared as.
 */
import type { MediaConfig } from '../common/config.js';

export type MediaKind = 'image' | 'video';

interface MediaType { kind: MediaKind; extension: string; matches: (head: Buffer) => boolean }

const ascii = (head: Buffer, at: number, text: string): boolean => head.toString('latin1', at, at + text.length) === text;
const bytes = (head: Buffer, at: number, values: number[]): boolean => values.every((value, i) => head[at + i] === value);

/** The types taken, with how each one's file begins. */
export const MEDIA_TYPES: Record<string, MediaType> = {
  'image/png': { kind: 'image', extension: 'png', matches: (h) => bytes(h, 0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]) },
  'image/jpeg': { kind: 'image', extension: 'jpg', matches: (h) => bytes(h, 0, [0xff, 0xd8, 0xff]) },
  'image/gif': { kind: 'image', extension: 'gif', matches: (h) => ascii(h, 0, 'GIF87a') || ascii(h, 0, 'GIF89a') },
  'image/webp': { kind: 'image', extension: 'webp', matches: (h) => ascii(h, 0, 'RIFF') && ascii(h, 8, 'WEBP') },
  // ISO base media: a box of type `ftyp` first (its size in bytes 0-3).
  'video/mp4': { kind: 'video', extension: 'mp4', matches: (h) => ascii(h, 4, 'ftyp') },
  // EBML, with the document type "webm" inside the header.
  'video/webm': { kind: 'video', extension: 'webm', matches: (h) => bytes(h, 0, [0x1a, 0x45, 0xdf, 0xa3]) && h.includes('webm', 0, 'latin1') },
};

export const MEDIA_CONTENT_TYPES = Object.keys(MEDIA_TYPES);

/** How many first bytes the check looks at (fewer when the whole file is shorter). */
export const SNIFF_BYTES = 64;

export function mediaTypeOf(contentType: string): MediaType | undefined {
  return MEDIA_TYPES[contentType];
}

export function maxBytesOf(kind: MediaKind, config: MediaConfig): number {
  return kind === 'image' ? config.maxImageBytes : config.maxVideoBytes;
}

/** Whether a file's first bytes are those of `contentType`. */
export function headMatches(contentType: string, head: Buffer): boolean {
  return mediaTypeOf(contentType)?.matches(head) ?? false;
}
