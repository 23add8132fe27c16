/**
 * V8 tuning for a gateway process. The flags below are given to node when it
 * starts (the CLI's shebang line, scripts/start.mjs, and Electron's js-flags);
 * setting them here as well covers a plain `node dist/gatehouse.js`, where they
 * take only partial effect because the heap already exists.
 *
 * A smaller young generation: a gateway holds many long-lived idle sessions
 * and sees bursts of short-lived garbage; with node's default (up to 3 × 16 MiB
 * of new space) a burst of connections leaves tens of MiB committed, which is
 * most of the memory per idle session. 4 MiB semi-spaces keep that bounded
 * (measured: about 13.5 → 9 KiB per idle SOCKS session) at a small cost in
 * scavenges (see test/bench).
 */
import v8 from 'node:v8';

export const GATEWAY_V8_FLAGS = ['--max-semi-space-size=4'];

for (const f of GATEWAY_V8_FLAGS) v8.setFlagsFromString(f);
