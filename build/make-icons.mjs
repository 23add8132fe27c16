#!/usr/bin/env node
// Draws Gatehouse's icons — the renderer's mark (a white arched gate with a
// portcullis) on a rounded blue square — and writes them as PNG with nothing but
// zlib: build/icon.png (512, electron-builder's app icon for every platform),
// build/tray.png (32, for review) and main/electron/icons.ts (the tray and
// window images as data URLs, so the packaged app needs no icon files at
// runtime: electron-builder packs only app/, and a data URL works the same
// from the asar, from app/ in development and in tests).
//
// Shapes are tested per sample on a 4×4 grid per pixel, which antialiases
// the edges. Output is deterministic: rerun after changing a shape and commit
// the results. Usage: node build/make-icons.mjs
import { deflateSync } from 'node:zlib';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// ---- shapes, in unit coordinates (0..1, y down) -----------------------------

function inRoundedRect(u, v, x0, y0, x1, y1, r) {
  if (u < x0 || u > x1 || v < y0 || v > y1) return false;
  const cx = Math.min(Math.max(u, x0 + r), x1 - r);
  const cy = Math.min(Math.max(v, y0 + r), y1 - r);
  return (u - cx) ** 2 + (v - cy) ** 2 <= r * r;
}

const inRect = (u, v, x0, y0, x1, y1) => u >= x0 && u <= x1 && v >= y0 && v <= y1;

/** Distance from (px, py) to the segment (ax, ay)–(bx, by). */
function segmentDistance(px, py, ax, ay, bx, by) {
  const dx = bx - ax, dy = by - ay;
  const t = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)));
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
}

/**
 * The Gatehouse mark, the same drawing as renderer/components/Logo.tsx (an
 * arched gate with a portcullis) in its 32-unit viewBox: an arch stroked
 * 2.6 wide with round caps, two bars and a cross-bar stroked 2.
 */
function inGate(x, y) {
  const arch =
    segmentDistance(x, y, 9, 25, 9, 14) <= 1.3 ||
    segmentDistance(x, y, 23, 25, 23, 14) <= 1.3 ||
    (y <= 14 && Math.abs(Math.hypot(x - 16, y - 14) - 7) <= 1.3);
  const bars =
    segmentDistance(x, y, 13, 25, 13, 17) <= 1 ||
    segmentDistance(x, y, 19, 25, 19, 17) <= 1 ||
    segmentDistance(x, y, 9, 19.5, 23, 19.5) <= 1;
  return arch || bars;
}

/** The mark scaled so the viewBox's 1..31 square fills margin..1-margin of the icon. */
const gateIn = (margin) => (u, v) => {
  const k = 30 / (1 - 2 * margin);
  return inGate(1 + (u - margin) * k, 1 + (v - margin) * k);
};

/**
 * The tray's version of the mark, drawn on a 16×16 grid so every edge lands on
 * a pixel boundary at 16 px (1x) and 32 px (2x), where the smooth one blurs:
 * 2-pixel arch, 1-pixel portcullis bars.
 */
function inTrayGate(u, v) {
  const x = u * 16, y = v * 16;
  const r = Math.hypot(x - 8, y - 7);
  const arch = (y <= 7 && r >= 3 && r <= 5) || (y >= 7 && y <= 14 && ((x >= 3 && x <= 5) || (x >= 11 && x <= 13)));
  const bars = y >= 9 && y <= 14 && ((x >= 6 && x <= 7) || (x >= 9 && x <= 10));
  const crossBar = y >= 10 && y <= 11 && x >= 5 && x <= 11;
  return arch || bars || crossBar;
}

// The renderer's accent (#2459d6) as a gentle top-to-bottom gradient; slate for "sharing off".
const BLUE = { top: [58, 112, 230], bottom: [26, 68, 178] };
const SLATE = { top: [122, 132, 148], bottom: [71, 80, 96] };

/** A shader returns [r, g, b, a] (0..255, straight alpha) for a point. */
function badge({ margin, radius, colors, glyph }) {
  return (u, v) => {
    if (!inRoundedRect(u, v, margin, margin, 1 - margin, 1 - margin, radius)) return [0, 0, 0, 0];
    if (glyph(u, v)) return [255, 255, 255, 255];
    const t = (v - margin) / (1 - 2 * margin);
    return [0, 1, 2].map((i) => colors.top[i] + (colors.bottom[i] - colors.top[i]) * t).concat(255);
  };
}

/** macOS tray "template" image: black glyph, alpha only; the system tints it. */
const template = (glyph) => (u, v) => (glyph(u, v) ? [0, 0, 0, 255] : [0, 0, 0, 0]);

// ---- rasterizer ---------------------------------------------------------------

function render(size, shade, ss = 4) {
  const px = new Uint8Array(size * size * 4);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let r = 0, g = 0, b = 0, a = 0;
      for (let sy = 0; sy < ss; sy++) {
        for (let sx = 0; sx < ss; sx++) {
          const [cr, cg, cb, ca] = shade((x + (sx + 0.5) / ss) / size, (y + (sy + 0.5) / ss) / size);
          r += cr * ca; g += cg * ca; b += cb * ca; a += ca; // premultiplied sums
        }
      }
      const o = (y * size + x) * 4;
      if (a > 0) {
        px[o] = Math.round(r / a); px[o + 1] = Math.round(g / a); px[o + 2] = Math.round(b / a);
      }
      px[o + 3] = Math.round(a / (ss * ss));
    }
  }
  return px;
}

// ---- PNG (RFC 2083): signature, IHDR, IDAT (zlib), IEND ------------------------

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const byte of buf) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** Per row, the filter (None/Sub/Up/Average/Paeth) with the smallest sum of absolute bytes. */
function filterRows(px, size) {
  const stride = size * 4;
  const out = Buffer.alloc((stride + 1) * size);
  const zero = new Uint8Array(stride);
  const paeth = (a, b, c) => {
    const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
  };
  for (let y = 0; y < size; y++) {
    const row = px.subarray(y * stride, (y + 1) * stride);
    const up = y ? px.subarray((y - 1) * stride, y * stride) : zero;
    let best = null, bestSum = Infinity, bestType = 0;
    for (let type = 0; type < 5; type++) {
      const f = new Uint8Array(stride);
      let sum = 0;
      for (let i = 0; i < stride; i++) {
        const a = i >= 4 ? row[i - 4] : 0, b = up[i], c = i >= 4 ? up[i - 4] : 0;
        const pred = [0, a, b, (a + b) >> 1, paeth(a, b, c)][type];
        f[i] = (row[i] - pred) & 0xff;
        sum += f[i] < 128 ? f[i] : 256 - f[i];
      }
      if (sum < bestSum) { best = f; bestSum = sum; bestType = type; }
    }
    out[y * (stride + 1)] = bestType;
    out.set(best, y * (stride + 1) + 1);
  }
  return out;
}

function png(size, shade) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // colour type: RGBA
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(filterRows(render(size, shade), size), { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// ---- the icons ------------------------------------------------------------------

const appIcon = badge({ margin: 0.06, radius: 0.22, colors: BLUE, glyph: gateIn(0.06) });
const trayOn = badge({ margin: 0, radius: 0.22, colors: BLUE, glyph: inTrayGate });
const trayOff = badge({ margin: 0, radius: 0.22, colors: SLATE, glyph: inTrayGate });
const trayTemplate = template(inTrayGate);

writeFileSync(path.join(root, 'build/icon.png'), png(512, appIcon));
writeFileSync(path.join(root, 'build/tray.png'), png(32, trayOn));

const dataUrl = (size, shade) => `data:image/png;base64,${png(size, shade).toString('base64')}`;
const entries = {
  trayOn: [dataUrl(16, trayOn), dataUrl(32, trayOn)],
  trayOff: [dataUrl(16, trayOff), dataUrl(32, trayOff)],
  trayTemplate: [dataUrl(16, trayTemplate), dataUrl(32, trayTemplate)],
  window: [dataUrl(64, appIcon), dataUrl(128, appIcon)],
};
const ts = `/**
 * Tray and window images as PNG data URLs: [1x, 2x] per icon. GENERATED by
 * build/make-icons.mjs (which also writes build/icon.png); do not edit by hand.
 * Embedded so the packaged app needs no icon files on disk.
 */
export const ICONS = {
${Object.entries(entries).map(([k, [a, b]]) => `  ${k}: [\n    '${a}',\n    '${b}',\n  ],`).join('\n')}
} as const;

export type IconName = keyof typeof ICONS;
`;
writeFileSync(path.join(root, 'main/electron/icons.ts'), ts);
console.log('wrote build/icon.png, build/tray.png, main/electron/icons.ts');
