#!/usr/bin/env node
/** Entry point: one cache node configured by environment variables (see README). */
import { type Config, ConfigError, parseConfig } from './config/config.js';
import type { Logger } from './log/logger.js';
import { createLogger } from './log/logger.js';
import { CacheNode } from './node/node.js';
import { loadSecurity, type Security } from './security/security.js';
import { ignoreIpServerNameWarning } from './security/tls.js';

ignoreIpServerNameWarning();

// Configuration, then the files it names (certificates, tokens, keys): all before binding.
let cfg: Config;
let log: Logger;
let security: Security;
try {
  cfg = parseConfig(process.env);
  log = createLogger(cfg.LOG_LEVEL, cfg.NODE_ID);
  security = loadSecurity(cfg, log);
} catch (e) {
  if (e instanceof ConfigError) {
    process.stderr.write(`${e.message}\n`);
    process.exit(2);
  }
  throw e;
}

const node = new CacheNode(cfg, log, security);

// One way out, whether by signal or by ClusterService/Leave: the graceful stop, then exit. The
// stop is bounded by SHUTDOWN_TIMEOUT; should a part of it still hang, the process exits anyway.
let stopping = false;
const shutdown = (why: string, fields: Record<string, unknown> = {}) => {
  if (stopping) return;
  stopping = true;
  log.info(fields, `${why}: graceful shutdown`);
  setTimeout(() => {
    log.error({ timeoutMs: cfg.SHUTDOWN_TIMEOUT }, 'graceful shutdown overran SHUTDOWN_TIMEOUT: exiting now');
    process.exit(1);
  }, cfg.SHUTDOWN_TIMEOUT + 5_000).unref();
  node.stop().then(
    () => process.exit(0),
    (err) => {
      log.error({ err }, 'shutdown failed');
      process.exit(1);
    },
  );
};
let signals = 0;
const onSignal = (sig: NodeJS.Signals) => {
  if (++signals > 1) {
    log.warn({ sig }, 'second signal: exiting now');
    process.exit(1);
  }
  shutdown('signal received', { sig });
};
process.on('SIGTERM', onSignal);
process.on('SIGINT', onSignal);
node.onLeaveRequested = () => shutdown('asked to leave');

try {
  await node.start();
} catch (err) {
  log.fatal({ err }, `cannot start: ${(err as Error).message}`);
  process.exit(1);
}
