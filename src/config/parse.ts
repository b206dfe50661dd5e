/**
 * The one parser of host:port addresses and durations, for config, CLI, client and healthcheck.
 * Pure: no I/O, no dependencies beyond node:net.
 *
 * Contract
 *
 * Address, parseAddress(text, options) -> { host, port }:
 *   - `host:port`. No whitespace anywhere (callers trim and split lists: see splitList).
 *   - host: a DNS name (labels of letters, digits, "_" and "-", not starting or ending with "-",
 *     separated by "."; a trailing "." is allowed), an IPv4 address (a host of only digits and dots
 *     must be one), or an IPv6 address in brackets: `[::1]:8080`. A bare IPv6 address is refused.
 *     The returned host has no brackets; formatAddress puts them back.
 *   - port: a whole number 1..65535; 0..65535 with `allowPortZero` (binding: 0 = any free port).
 *   - `defaultPort`: `host` (and `[v6]`) without a port is accepted and gets this port.
 *   - `allowEmptyHost`: `:port` is accepted and returns host "" (the caller decides what it means:
 *     all interfaces for a bind, loopback for a probe).
 *
 * Duration, parseDuration(text, options) -> whole milliseconds:
 *   - a number (digits, optionally a decimal part: `1.5s`) and a unit ms, s, m or h (any case; spaces
 *     between number and unit allowed); surrounding whitespace is trimmed; rounded to whole ms.
 *   - `bareNumber`: what a number without a unit means: 'ms', 's', or 'reject' (the default: a unit is
 *     required, only a bare zero is allowed).
 *   - negative values, exponents, other units and results beyond Number.MAX_SAFE_INTEGER are errors.
 *     Bounds (min/max) are the caller's.
 *
 * Errors: both throw ParseError, message `"<input>" is not <expected>: <reason>`, e.g.
 * `"cache1:99999" is not host:port: port 99999 is outside 1..65535`. Callers wrap it in their own error
 * (ConfigError, UsageError, INVALID_ARGUMENT), using `message` or its parts `expected` and `reason`.
 */
import { isIP } from 'node:net';

export class ParseError extends Error {
  override readonly name = 'ParseError';
  /** input: the text as given; expected: what was expected ("host:port"); reason: what is wrong with it. */
  constructor(
    readonly input: string,
    readonly expected: string,
    readonly reason: string,
  ) {
    super(`${JSON.stringify(input)} is not ${expected}: ${reason}`);
  }
}

export interface Address {
  /** DNS name, IPv4 address, IPv6 address without brackets, or "" (only with allowEmptyHost). */
  host: string;
  port: number;
}

export interface AddressOptions {
  /** Port of an address given without one; without this option the port is required. */
  defaultPort?: number;
  /** Accept `:port` (host ""). */
  allowEmptyHost?: boolean;
  /** Accept port 0 (bind to any free port). */
  allowPortZero?: boolean;
}

const LABEL = '[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?';
const DNS_NAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*\\.?$`);
const HOST_RULE = 'a DNS name (letters, digits, "-", "_", "."), an IPv4 address or an IPv6 address in brackets';

function addressExpected(o: AddressOptions): string {
  const forms = [...(o.defaultPort !== undefined ? ['host'] : []), 'host:port', ...(o.allowEmptyHost ? [':port'] : [])];
  return forms.length === 1 ? forms[0]! : `${forms.slice(0, -1).join(', ')} or ${forms[forms.length - 1]}`;
}

/** Parses `host:port` (see the contract above). Throws ParseError. */
export function parseAddress(text: string, options: AddressOptions = {}): Address {
  const { defaultPort, allowEmptyHost = false, allowPortZero = false } = options;
  if (defaultPort !== undefined && !(Number.isInteger(defaultPort) && defaultPort >= 0 && defaultPort <= 65_535)) {
    throw new RangeError(`defaultPort must be a whole number from 0 to 65535, got ${String(defaultPort)}`);
  }
  const fail = (reason: string): never => {
    throw new ParseError(typeof text === 'string' ? text : String(text), addressExpected(options), reason);
  };
  if (typeof text !== 'string') return fail('it is not a string');
  if (text === '') return fail('it is empty');
  if (/\s/.test(text)) return fail('it contains whitespace');

  let host: string;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return fail('the "[" of the IPv6 address is not closed');
    host = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest.startsWith(':')) portText = rest.slice(1);
    else if (rest !== '') return fail(`${JSON.stringify(rest)} after "]": expected ":port"`);
    if (portText === undefined && defaultPort === undefined) return fail('the port is missing');
    if (isIP(host) !== 6) return fail(`${JSON.stringify(host)} in brackets is not an IPv6 address`);
  } else {
    const parts = text.split(':');
    if (parts.length > 2) return fail('an IPv6 address must be in brackets, e.g. [::1]:8080');
    host = parts[0]!;
    portText = parts[1];
    if (portText === undefined && defaultPort === undefined) return fail('the port is missing');
    if (host === '') {
      if (!allowEmptyHost) return fail('the host is missing');
    } else if (/^[\d.]+$/.test(host)) {
      if (isIP(host) !== 4) return fail(`${host} is not an IPv4 address`);
    } else if (host.length > 253 || !DNS_NAME.test(host)) {
      return fail(`host ${JSON.stringify(host)} is not ${HOST_RULE}`);
    }
  }

  if (portText === undefined) return { host, port: defaultPort! };
  if (portText === '') return fail('the port after ":" is missing');
  if (!/^\d+$/.test(portText)) return fail(`port ${JSON.stringify(portText)} is not a whole number`);
  const port = Number(portText);
  const min = allowPortZero ? 0 : 1;
  if (port < min || port > 65_535) return fail(`port ${portText} is outside ${min}..65535`);
  return { host, port };
}

/** { host, port } -> "host:port", with brackets around an IPv6 host; host "" gives ":port". */
export function formatAddress(a: Address): string {
  return `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
}

/** "a, b,,c " -> ["a", "b", "c"]: comma-separated items, trimmed, empty ones dropped. */
export function splitList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

export interface DurationOptions {
  /** What a number without a unit means; 'reject' (default): a unit is required, only a bare 0 is allowed. */
  bareNumber?: 'ms' | 's' | 'reject';
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const UNIT_RULE = 'ms, s, m or h';

/** "500ms", "1.5s", "5m", "1h" (and a bare number per options.bareNumber) -> whole milliseconds. Throws ParseError. */
export function parseDuration(text: string, options: DurationOptions = {}): number {
  const bare = options.bareNumber ?? 'reject';
  const expected = bare === 'reject' ? 'a duration with a unit' : 'a duration';
  const fail = (reason: string): never => {
    throw new ParseError(typeof text === 'string' ? text : String(text), expected, reason);
  };
  if (typeof text !== 'string') return fail('it is not a string');
  const s = text.trim();
  if (s === '') return fail('it is empty');
  const m = /^(-?)(\d+(?:\.\d+)?)\s*([A-Za-z]*)$/.exec(s);
  if (!m) {
    return fail(
      bare === 'reject'
        ? `expected a number and a unit (${UNIT_RULE}), e.g. 500ms, 1.5s, 5m, 1h`
        : `expected a number of ${bare === 'ms' ? 'milliseconds' : 'seconds'} or a number and a unit (${UNIT_RULE}), e.g. ${bare === 'ms' ? '1500' : '90'} or 1.5s`,
    );
  }
  const [, sign, num, unitText] = m as unknown as [string, string, string, string];
  if (sign === '-') return fail('it is negative');
  let unit: number;
  if (unitText === '') {
    if (bare === 'ms') unit = 1;
    else if (bare === 's') unit = 1_000;
    else if (Number(num) === 0) return 0;
    else return fail(`the unit is missing (${UNIT_RULE}, e.g. 500ms, 10s, 5m, 1h)`);
  } else {
    const u = DURATION_UNITS[unitText.toLowerCase()];
    if (u === undefined) return fail(`unknown unit ${JSON.stringify(unitText)} (${UNIT_RULE})`);
    unit = u;
  }
  const ms = Math.round(Number(num) * unit);
  if (!Number.isSafeInteger(ms)) return fail(`it is too large (at most ${Number.MAX_SAFE_INTEGER}ms)`);
  return ms;
}
