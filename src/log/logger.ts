/** The one logger of a node process: pino, JSON lines on stdout. Created once in main. */
import { pino } from 'pino';

export type Logger = pino.Logger;

export function createLogger(level: string, nodeId: string): Logger {
  // Synchronous writes to fd 1 rather than pino's default asynchronous destination: that one
  // flushes at process exit in a loop that retries every write error, so a node whose stdout
  // reader is gone (`npm start | head`, a dead log shipper) never exits (EPIPE forever). With
  // sync writes a broken pipe is reported once and pino stops writing. Per-request lines are
  // debug level only, so info-level logging stays off the hot path.
  const dest = pino.destination({ dest: 1, sync: true });
  return pino({ level, base: { node: nodeId }, timestamp: pino.stdTimeFunctions.isoTime }, dest);
}
