/** The host:port and duration contract of src/config/parse.ts (shared by config, CLI, client and healthcheck). */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AddressOptions, formatAddress, ParseError, parseAddress, parseDuration, splitList } from '../../src/config/parse.ts';

/** Asserts that fn throws a ParseError with exactly this message. */
const fails = (fn: () => unknown, message: string) =>
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ParseError, String(e));
    assert.equal(e.message, message);
    assert.equal(e.name, 'ParseError');
    return true;
  });
const addrFails = (text: string, reason: string, o?: AddressOptions, expected = 'host:port') =>
  fails(() => parseAddress(text, o), `${JSON.stringify(text)} is not ${expected}: ${reason}`);

test('address: host:port with a DNS name, IPv4 or bracketed IPv6 host', () => {
  const ok: [string, string, number][] = [
    ['127.0.0.1:8080', '127.0.0.1', 8080],
    ['cache1:8080', 'cache1', 8080],
    ['cache-1.svc.cluster.local:9000', 'cache-1.svc.cluster.local', 9000],
    ['cache-1.svc.cluster.local.:9000', 'cache-1.svc.cluster.local.', 9000], // fully qualified
    ['my_host:1', 'my_host', 1],
    ['_grpc._tcp.x:2', '_grpc._tcp.x', 2],
    ['localhost:65535', 'localhost', 65535],
    ['a:80', 'a', 80],
    ['1abc:80', '1abc', 80],
    ['0.0.0.0:80', '0.0.0.0', 80],
    ['[::1]:8080', '::1', 8080], // brackets removed
    ['[::]:1', '::', 1],
    ['[2001:db8::7]:443', '2001:db8::7', 443],
    ['[::ffff:10.0.0.1]:80', '::ffff:10.0.0.1', 80],
    ['h:0080', 'h', 80],
  ];
  for (const [text, host, port] of ok) assert.deepEqual(parseAddress(text), { host, port }, text);
});

test('address: ports 1..65535; 0 only with allowPortZero', () => {
  assert.equal(parseAddress('h:1').port, 1);
  assert.equal(parseAddress('h:65535').port, 65535);
  addrFails('h:0', 'port 0 is outside 1..65535');
  addrFails('h:65536', 'port 65536 is outside 1..65535');
  addrFails('cache1:99999', 'port 99999 is outside 1..65535');
  addrFails('h:123456789012345678901234567890', 'port 123456789012345678901234567890 is outside 1..65535');
  assert.deepEqual(parseAddress('h:0', { allowPortZero: true }), { host: 'h', port: 0 });
  assert.deepEqual(parseAddress('[::]:0', { allowPortZero: true }), { host: '::', port: 0 });
  addrFails('h:65536', 'port 65536 is outside 0..65535', { allowPortZero: true });
  addrFails('h:-1', 'port "-1" is not a whole number');
  addrFails('a:b', 'port "b" is not a whole number');
  addrFails('h:1.5', 'port "1.5" is not a whole number');
  addrFails('h:0x50', 'port "0x50" is not a whole number');
  addrFails('h:', 'the port after ":" is missing');
  addrFails('[::1]:', 'the port after ":" is missing');
});

test('address: a missing port, with and without defaultPort', () => {
  addrFails('nohost', 'the port is missing');
  addrFails('127.0.0.1', 'the port is missing');
  addrFails('[::1]', 'the port is missing');
  addrFails('8080', 'the port is missing');
  const d = { defaultPort: 8080 };
  assert.deepEqual(parseAddress('cache2', d), { host: 'cache2', port: 8080 });
  assert.deepEqual(parseAddress('10.0.0.2', d), { host: '10.0.0.2', port: 8080 });
  assert.deepEqual(parseAddress('[::1]', d), { host: '::1', port: 8080 });
  assert.deepEqual(parseAddress('cache3:9090', d), { host: 'cache3', port: 9090 }); // an explicit port wins
  addrFails('cache3:0', 'port 0 is outside 1..65535', d, 'host or host:port');
  addrFails('b c', 'it contains whitespace', d, 'host or host:port');
  addrFails('cache3:', 'the port after ":" is missing', d, 'host or host:port');
  assert.throws(() => parseAddress('h', { defaultPort: 70000 }), RangeError);
  assert.throws(() => parseAddress('h', { defaultPort: 1.5 }), RangeError);
});

test('address: :port only with allowEmptyHost (host "")', () => {
  addrFails(':8080', 'the host is missing');
  const e = { allowEmptyHost: true };
  assert.deepEqual(parseAddress(':9100', e), { host: '', port: 9100 });
  assert.deepEqual(parseAddress('h:9100', e), { host: 'h', port: 9100 });
  addrFails(':0', 'port 0 is outside 1..65535', e, 'host:port or :port');
  assert.deepEqual(parseAddress(':0', { ...e, allowPortZero: true }), { host: '', port: 0 });
  addrFails(':', 'the port after ":" is missing', e, 'host:port or :port');
  addrFails('h', 'the port is missing', e, 'host:port or :port');
  addrFails('h', 'the port is missing', { ...e, defaultPort: undefined }, 'host:port or :port');
  assert.deepEqual(parseAddress('h', { ...e, defaultPort: 1 }), { host: 'h', port: 1 });
  addrFails('h h', 'it contains whitespace', { ...e, defaultPort: 1 }, 'host, host:port or :port');
});

test('address: bad hosts, IPv6 without brackets, brackets around non-IPv6', () => {
  const rule = 'a DNS name (letters, digits, "-", "_", "."), an IPv4 address or an IPv6 address in brackets';
  addrFails('::1:80', 'an IPv6 address must be in brackets, e.g. [::1]:8080');
  addrFails('2001:db8::1', 'an IPv6 address must be in brackets, e.g. [::1]:8080');
  addrFails('a:1:2', 'an IPv6 address must be in brackets, e.g. [::1]:8080');
  addrFails('[::1:80', 'the "[" of the IPv6 address is not closed');
  addrFails('[::1]8080', '"8080" after "]": expected ":port"');
  addrFails('[::1]:80]', 'port "80]" is not a whole number');
  addrFails('[]:80', '"" in brackets is not an IPv6 address');
  addrFails('[10.0.0.1]:80', '"10.0.0.1" in brackets is not an IPv6 address');
  addrFails('[cache1]:80', '"cache1" in brackets is not an IPv6 address');
  addrFails('[:::]:80', '":::" in brackets is not an IPv6 address');
  addrFails('999.0.0.1:80', '999.0.0.1 is not an IPv4 address');
  addrFails('10.0.0:80', '10.0.0 is not an IPv4 address');
  addrFails('8080:1', '8080 is not an IPv4 address');
  addrFails('-cache:1', `host "-cache" is not ${rule}`);
  addrFails('cache-:1', `host "cache-" is not ${rule}`);
  addrFails('a..b:1', `host "a..b" is not ${rule}`);
  addrFails('.a:1', `host ".a" is not ${rule}`);
  addrFails('ca$he:1', `host "ca$he" is not ${rule}`);
  addrFails('caché:1', `host "caché" is not ${rule}`);
  addrFails('user@h:1', `host "user@h" is not ${rule}`);
  addrFails(`${'a'.repeat(254)}:1`, `host "${'a'.repeat(254)}" is not ${rule}`);
  assert.equal(parseAddress(`${'a.'.repeat(126)}a:1`).port, 1); // 253 characters
});

test('address: empty strings and whitespace', () => {
  addrFails('', 'it is empty');
  addrFails('', 'it is empty', { defaultPort: 1, allowEmptyHost: true }, 'host, host:port or :port');
  addrFails(' ', 'it contains whitespace');
  addrFails(' h:1', 'it contains whitespace'); // callers trim (see splitList)
  addrFails('h:1 ', 'it contains whitespace');
  addrFails('h :1', 'it contains whitespace');
  addrFails('h:\t1', 'it contains whitespace');
  fails(() => parseAddress(42 as never), '"42" is not host:port: it is not a string');
});

test('formatAddress puts the brackets back; round trip', () => {
  assert.equal(formatAddress({ host: '::1', port: 8080 }), '[::1]:8080');
  assert.equal(formatAddress({ host: '127.0.0.1', port: 1 }), '127.0.0.1:1');
  assert.equal(formatAddress({ host: 'cache1', port: 65535 }), 'cache1:65535');
  assert.equal(formatAddress({ host: '', port: 9100 }), ':9100');
  for (const a of ['[2001:db8::7]:443', 'cache-1.svc:9000', '10.1.2.3:80', '[::]:0', ':0']) {
    assert.equal(formatAddress(parseAddress(a, { allowEmptyHost: true, allowPortZero: true })), a);
  }
});

test('splitList: comma-separated, trimmed, empty items dropped', () => {
  assert.deepEqual(splitList(' a:1 ,,b:2 , '), ['a:1', 'b:2']);
  assert.deepEqual(splitList(''), []);
  assert.deepEqual(splitList(' , '), []);
  assert.deepEqual(splitList('[::1]:1,h'), ['[::1]:1', 'h']);
});

test('duration: a number and a unit ms, s, m, h; decimals rounded to whole ms', () => {
  const ok: [string, number][] = [
    ['500ms', 500],
    ['10s', 10_000],
    ['1.5s', 1_500],
    ['2m', 120_000],
    ['1.5m', 90_000],
    ['1h', 3_600_000],
    ['0ms', 0],
    ['0s', 0],
    ['0.4ms', 0],
    ['0.5ms', 1],
    ['1.0006s', 1_001],
    ['2.5ms', 3],
    ['0.001s', 1],
    ['2S', 2_000],
    ['500MS', 500],
    ['1H', 3_600_000],
    ['10 s', 10_000],
    ['  10s\t', 10_000],
    ['007s', 7_000],
  ];
  for (const bare of ['reject', 'ms', 's'] as const) {
    for (const [text, ms] of ok) assert.equal(parseDuration(text, { bareNumber: bare }), ms, `${text} (${bare})`);
  }
  assert.equal(parseDuration('10s'), 10_000); // default options
});

test('duration: a bare number per bareNumber (ms, s, or rejected except 0)', () => {
  assert.equal(parseDuration('1500', { bareNumber: 'ms' }), 1_500);
  assert.equal(parseDuration('1.5', { bareNumber: 'ms' }), 2);
  assert.equal(parseDuration('60', { bareNumber: 's' }), 60_000);
  assert.equal(parseDuration('1.5', { bareNumber: 's' }), 1_500);
  assert.equal(parseDuration(' 0 ', { bareNumber: 's' }), 0);
  assert.equal(parseDuration('0'), 0);
  assert.equal(parseDuration('0', { bareNumber: 'reject' }), 0);
  assert.equal(parseDuration('0.0'), 0);
  fails(() => parseDuration('10'), '"10" is not a duration with a unit: the unit is missing (ms, s, m or h, e.g. 500ms, 10s, 5m, 1h)');
  fails(
    () => parseDuration('0.5', { bareNumber: 'reject' }),
    '"0.5" is not a duration with a unit: the unit is missing (ms, s, m or h, e.g. 500ms, 10s, 5m, 1h)',
  );
});

test('duration: errors say what is wrong', () => {
  const withUnit = (t: string, reason: string) =>
    fails(() => parseDuration(t), `${JSON.stringify(t)} is not a duration with a unit: ${reason}`);
  const garbage = 'expected a number and a unit (ms, s, m or h), e.g. 500ms, 1.5s, 5m, 1h';
  withUnit('', 'it is empty');
  withUnit('   ', 'it is empty');
  withUnit('-1s', 'it is negative');
  withUnit('-0', 'it is negative');
  withUnit('1d', 'unknown unit "d" (ms, s, m or h)');
  withUnit('10 sec', 'unknown unit "sec" (ms, s, m or h)');
  withUnit('5us', 'unknown unit "us" (ms, s, m or h)');
  withUnit('s', garbage);
  withUnit('ms', garbage);
  withUnit('1e3ms', garbage);
  withUnit('.5s', garbage);
  withUnit('1.s', garbage);
  withUnit('+1s', garbage);
  withUnit('1s2ms', garbage);
  withUnit('1,5s', garbage);
  withUnit('fast', garbage);
  withUnit('1 5s', garbage);
  withUnit('Infinity', garbage);
  withUnit('NaN', garbage);
  withUnit('99999999999999999h', `it is too large (at most ${Number.MAX_SAFE_INTEGER}ms)`);
  withUnit(`${'9'.repeat(400)}ms`, `it is too large (at most ${Number.MAX_SAFE_INTEGER}ms)`);
  fails(
    () => parseDuration('9007199254740993', { bareNumber: 'ms' }),
    `"9007199254740993" is not a duration: it is too large (at most ${Number.MAX_SAFE_INTEGER}ms)`,
  );
  assert.equal(parseDuration('9007199254740991', { bareNumber: 'ms' }), Number.MAX_SAFE_INTEGER);
  fails(
    () => parseDuration('x', { bareNumber: 'ms' }),
    '"x" is not a duration: expected a number of milliseconds or a number and a unit (ms, s, m or h), e.g. 1500 or 1.5s',
  );
  fails(() => parseDuration('-5', { bareNumber: 's' }), '"-5" is not a duration: it is negative');
  fails(
    () => parseDuration('1 2', { bareNumber: 's' }),
    '"1 2" is not a duration: expected a number of seconds or a number and a unit (ms, s, m or h), e.g. 90 or 1.5s',
  );
  fails(() => parseDuration(undefined as never), '"undefined" is not a duration with a unit: it is not a string');
});

test('ParseError carries its parts for callers that word their own message', () => {
  try {
    parseAddress('cache1:99999');
    assert.fail('no error');
  } catch (e) {
    assert.ok(e instanceof ParseError && e instanceof Error);
    assert.equal(e.input, 'cache1:99999');
    assert.equal(e.expected, 'host:port');
    assert.equal(e.reason, 'port 99999 is outside 1..65535');
    assert.equal(e.message, '"cache1:99999" is not host:port: port 99999 is outside 1..65535');
  }
});
