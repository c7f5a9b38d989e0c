// wsb-client.test.mjs: node --test for the reference client.  The pure
// parts always run; with WSB_TEST_BALANCER (a balancer route URL, set by
// tests/integration/browser_client.sh, which serves a v2 whose first node
// for any key refuses connections) the client also runs against the real
// handler behind nginx: a 503's Retry-After and a failed connect's exclude.
import test from 'node:test';
import assert from 'node:assert/strict';
import { fullJitter, parseRetryAfter, balancerUrl, addExclude, WsbClient, DEFAULTS } from './wsb-client.js';

test('full jitter stays in [0, min(cap, base x 2^attempt)] and its window grows', () => {
  const opts = { baseDelayMs: 100, maxDelayMs: 5000 };
  for (let a = 0; a < 12; a++) {
    const window = Math.min(5000, 100 * 2 ** a);
    let max = 0;
    for (let i = 0; i < 500; i++) {
      const d = fullJitter(a, opts);
      assert.ok(d >= 0 && d < window, `attempt ${a}: ${d} outside [0, ${window})`);
      max = Math.max(max, d);
    }
    assert.ok(max > window * 0.8, `attempt ${a}: draws fill the window (max ${max} of ${window})`);
  }
  assert.equal(fullJitter(3, opts, () => 0), 0);
  assert.equal(fullJitter(3, opts, () => 0.999999), 799);
  assert.equal(fullJitter(1000, opts, () => 0.999999), 4999);   // capped, no overflow
  assert.equal(fullJitter(-5, opts, () => 0.5), 50);
  const distinct = new Set(Array.from({ length: 50 }, () => fullJitter(4, opts)));
  assert.ok(distinct.size > 10, 'clients turned away together do not come back together');
});

test('Retry-After: seconds or an HTTP-date, else null', () => {
  assert.equal(parseRetryAfter('5'), 5000);
  assert.equal(parseRetryAfter(' 7 '), 7000);
  assert.equal(parseRetryAfter('0'), 0);
  for (const bad of [null, undefined, '', '-1', '1.5', 'soon', '5s', '99999999999']) assert.equal(parseRetryAfter(bad), null, String(bad));
  const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
  assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:30 GMT', now), 30000);
  assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:27:00 GMT', now), 0);
});

test('exclude list: encoded, once each, the newest 8; affinity once', () => {
  let ex = [];
  for (let i = 0; i < 12; i++) ex = addExclude(ex, `wss://n${i}.example.net/ws?a=b&c`);
  ex = addExclude(ex, 'wss://n11.example.net/ws?a=b&c');
  assert.equal(ex.length, DEFAULTS.maxExclude);
  assert.equal(ex[7], 'wss://n11.example.net/ws?a=b&c');
  assert.equal(ex[0], 'wss://n4.example.net/ws?a=b&c');
  const u = new URL(balancerUrl('https://lb.example.net/v1/websocket/server?affinity=old', ex, 'key 1/&'));
  assert.deepEqual(u.searchParams.getAll('exclude'), ex);
  assert.deepEqual(u.searchParams.getAll('affinity'), ['key 1/&']);
  assert.ok(!u.search.includes('a=b&c'), 'values are percent-encoded');
  assert.equal(balancerUrl('https://lb.example.net/v1/websocket/server'), 'https://lb.example.net/v1/websocket/server');
});

test('a client without WebSocket or balancer is refused at once', () => {
  assert.throws(() => new WsbClient({}), /balancer/);
  assert.throws(() => new WsbClient({ balancer: 'https://x/v1/websocket/server', WebSocket: {}, fetch: () => {} }), /WebSocket/);
});

const BALANCER = process.env.WSB_TEST_BALANCER;

// Runs a client until pred(events) holds or limit waits were asked for;
// the waits are recorded and cut to 1 ms (the real ones are checked).
async function run(opts, pred, limit = 20) {
  const events = [];
  const waits = [];
  let client;
  await new Promise((resolve) => {
    client = new WsbClient({
      WebSocket: globalThis.WebSocket,
      ...opts,
      sleep: (ms) => new Promise((r) => setTimeout(r, 1)),
      onEvent: (e) => {
        events.push(e);
        if (e.type === 'wait') waits.push(e);
        if (pred(events) || waits.length >= limit || e.type === 'fatal') resolve();
      },
    });
    client.start();
  });
  client.stop();
  return { events, waits };
}

test('real balancer: a 503 is waited out for at least its Retry-After, growing', { skip: !BALANCER }, async () => {
  const url = BALANCER.replace('/v1/', '/v99/');   // no node lists v99
  const { events, waits } = await run({ balancer: url, baseDelayMs: 1000, maxDelayMs: 60000, random: () => 0.999 },
    () => false, 6);   // draws at the top of each window: deterministic
  const answers = events.filter((e) => e.type === 'balancer');
  assert.ok(answers.length >= 6, `asked ${answers.length} times`);
  for (const a of answers) {
    assert.equal(a.status, 503);
    assert.ok(a.retryAfterMs !== null, 'Retry-After read');
  }
  for (const a of answers) assert.ok(a.retryAfterMs >= 1000, `Retry-After ${a.retryAfterMs} ms: whole seconds, jittered`);
  assert.ok(waits[5].ms > answers[5].retryAfterMs, 'the backoff window grows past Retry-After');
  for (let i = 0; i < waits.length; i++) {
    assert.ok(waits[i].ms >= answers[i].retryAfterMs, `wait ${waits[i].ms} < Retry-After ${answers[i].retryAfterMs}`);
    // the larger of Retry-After and the full-jitter draw of attempt i
    assert.ok(waits[i].ms <= Math.max(answers[i].retryAfterMs, 1000 * 2 ** i),
      `wait ${i}: ${waits[i].ms} over max(Retry-After ${answers[i].retryAfterMs}, window ${1000 * 2 ** i})`);
  }
});

test('real balancer: a failed connect is asked again with exclude, then connects', { skip: !BALANCER }, async () => {
  const url = BALANCER.replace('/v1/', '/v2/');
  const { events } = await run({ balancer: url, affinity: 'node-test-key', baseDelayMs: 10 },
    (ev) => ev.some((e) => e.type === 'open'));
  const asked = events.filter((e) => e.type === 'balancer');
  const failed = events.filter((e) => e.type === 'connect-failed');
  const opened = events.find((e) => e.type === 'open');
  assert.ok(failed.length >= 1, 'the key\'s first node refused');
  assert.ok(opened, 'connected in the end');
  assert.notEqual(opened.endpoint, failed[0].endpoint);
  const second = new URL(asked[1].url);
  assert.deepEqual(second.searchParams.getAll('exclude'), [failed[0].endpoint]);
  assert.equal(second.searchParams.get('affinity'), 'node-test-key');
  assert.equal(asked[1].endpoint, opened.endpoint, 'the balancer answered with another node once asked');
});
