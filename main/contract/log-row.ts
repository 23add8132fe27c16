/** One row of the request log: what the recorder completes and the log stores. */
import { z } from 'zod';

export const LogRowSchema = z.object({
  id: z.number(),
  /** start time, ms since the epoch */
  ts: z.number(),
  service: z.string(),
  clientAddr: z.string(),
  clientPort: z.number(),
  user: z.string(),
  method: z.string(),
  /** full URL for proxied requests, host:port for tunnels */
  url: z.string(),
  host: z.string(),
  port: z.number(),
  status: z.number(),
  /** bytes received from the client / sent to the client */
  bytesUp: z.number(),
  bytesDown: z.number(),
  /** datagrams from / to the client (UDP rows) */
  packetsUp: z.number(),
  packetsDown: z.number(),
  durationMs: z.number(),
  allowed: z.boolean(),
  rule: z.string(),
  error: z.string(),
});
export type LogRow = z.infer<typeof LogRowSchema>;
