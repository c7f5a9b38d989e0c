// wsb-client.js: a reference client for wsbalancer, one dependency-free ES
// module for browsers and Node.js >= 20.
//
// It asks the balancer for an endpoint, opens the WebSocket, and keeps it
// open: a connect that fails is asked again with ?exclude=<endpoint> (the
// balancer then never answers with it while another node can take the
// client), a 503 is waited out for at least its Retry-After, every wait is
// full-jitter exponential backoff (AWS's "full jitter": a uniform draw in
// [0, min(cap, base x 2^attempt)]), reconnects send the same ?affinity=
// key (so a session comes back to its node), and a connection that drops
// soon after it opened counts as a failure, so nothing ever loops hot.
//
//   import { WsbClient } from './wsb-client.js';
//   const c = new WsbClient({ balancer: 'https://lb.example.net/v1/websocket/server',
//                             affinity: sessionId,
//                             onMessage: (ev) => console.log(ev.data) });
//   c.start();
//   c.send('hello');
//
// Node.js 20 has no global WebSocket: pass one (`WebSocket: (await
// import('ws')).WebSocket`, or run node with --experimental-websocket).

export const DEFAULTS = Object.freeze({
  baseDelayMs: 500,        // the first backoff window
  maxDelayMs: 30000,       // no window is wider
  connectTimeoutMs: 10000, // a WebSocket not open by then counts as failed
  stableMs: 10000,         // a connection that lived this long resets the backoff
  maxExclude: 8,           // the balancer reads at most 8 exclude values
});

// Full jitter: a uniform draw in [0, min(maxDelayMs, baseDelayMs x 2^attempt)].
export function fullJitter(attempt, opts = DEFAULTS, random = Math.random) {
  const base = opts.baseDelayMs ?? DEFAULTS.baseDelayMs;
  const cap = opts.maxDelayMs ?? DEFAULTS.maxDelayMs;
  const window = Math.min(cap, base * 2 ** Math.min(Math.max(attempt, 0), 30));
  return Math.floor(random() * window);
}

// Retry-After (RFC 9110, 10.2.3): delay-seconds or an HTTP-date, in ms;
// null when absent or unreadable (then only the backoff counts).
export function parseRetryAfter(value, now = Date.now()) {
  if (value == null) return null;
  const v = String(value).trim();
  if (/^\d{1,9}$/.test(v)) return Number(v) * 1000;
  if (!/^[A-Za-z]{3}, /.test(v)) return null;
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : Math.max(0, t - now);
}

// The balancer URL with the exclude list (last maxExclude, encoded) and
// the affinity key.
export function balancerUrl(balancer, exclude = [], affinity = null, maxExclude = DEFAULTS.maxExclude) {
  const u = new URL(balancer);
  u.searchParams.delete('exclude');
  u.searchParams.delete('affinity');
  for (const e of exclude.slice(-maxExclude)) u.searchParams.append('exclude', e);
  if (affinity != null && affinity !== '') u.searchParams.set('affinity', affinity);
  return u.toString();
}

// Adds endpoint to the list once, keeping the newest maxExclude.
export function addExclude(list, endpoint, maxExclude = DEFAULTS.maxExclude) {
  const out = list.filter((e) => e !== endpoint);
  out.push(endpoint);
  return out.slice(-maxExclude);
}

export class WsbClient {
  constructor(opts) {
    if (!opts || !opts.balancer) throw new TypeError('WsbClient: balancer URL required');
    this.opts = { ...DEFAULTS, ...opts };
    this.WebSocket = opts.WebSocket ?? globalThis.WebSocket;
    this.fetch = opts.fetch ?? globalThis.fetch?.bind(globalThis);
    if (typeof this.WebSocket !== 'function') throw new TypeError('WsbClient: no WebSocket: pass opts.WebSocket');
    if (typeof this.fetch !== 'function') throw new TypeError('WsbClient: no fetch: pass opts.fetch');
    this.random = opts.random ?? Math.random;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.exclude = [];
    this.attempt = 0;
    this.ws = null;
    this.endpoint = null;
    this.running = false;
    this.generation = 0;
  }

  emit(type, detail) {
    this.opts.onEvent?.({ type, ...detail });
  }

  // Connects, and reconnects whenever the connection ends, until stop().
  start() {
    if (this.running) return;
    this.running = true;
    this.loop(++this.generation);
  }

  stop() {
    this.running = false;
    this.generation++;
    this.ws?.close(1000);
    this.ws = null;
  }

  // Closes the current connection and connects again (same affinity key).
  reconnect() {
    const ws = this.ws;
    this.ws = null;
    this.generation++;
    this.attempt = 0;
    ws?.close(1000);
    if (this.running) this.loop(this.generation);
  }

  send(data) {
    if (!this.ws || this.ws.readyState !== 1) throw new Error('WsbClient: not connected');
    this.ws.send(data);
  }

  async wait(ms, reason, gen) {
    this.emit('wait', { ms, reason });
    await this.sleep(ms);
    return this.running && gen === this.generation;
  }

  // One backoff step; the window grows with every failure in a row.
  backoff() {
    return fullJitter(this.attempt++, this.opts, this.random);
  }

  async loop(gen) {
    while (this.running && gen === this.generation) {
      const url = balancerUrl(this.opts.balancer, this.exclude, this.opts.affinity, this.opts.maxExclude);
      let res;
      try {
        res = await this.fetch(url, { cache: 'no-store', headers: { Accept: 'application/json' } });
      } catch (err) {
        this.emit('balancer', { url, status: 0, error: String(err) });
        if (!(await this.wait(this.backoff(), 'balancer unreachable', gen))) return;
        continue;
      }
      if (res.status === 200) {
        let endpoint = null;
        try {
          endpoint = (await res.json()).endpoint;
        } catch { /* handled below */ }
        this.emit('balancer', { url, status: 200, endpoint });
        if (typeof endpoint !== 'string' || !/^wss?:\/\//.test(endpoint)) {
          if (!(await this.wait(this.backoff(), 'bad answer', gen))) return;
          continue;
        }
        const ws = await this.open(endpoint);
        if (gen !== this.generation || !this.running) {
          ws?.close(1000);
          return;
        }
        if (ws) {
          this.attached(ws, endpoint, gen);
          return;
        }
        this.exclude = addExclude(this.exclude, endpoint, this.opts.maxExclude);
        this.emit('connect-failed', { endpoint, exclude: [...this.exclude] });
        if (!(await this.wait(this.backoff(), 'connect failed', gen))) return;
        continue;
      }
      const retryAfter = parseRetryAfter(res.headers.get('Retry-After'));
      this.emit('balancer', { url, status: res.status, retryAfterMs: retryAfter });
      try { await res.body?.cancel(); } catch { /* nothing to read */ }
      if (res.status >= 400 && res.status < 500 && res.status !== 429) {
        this.running = false;   // the URL is wrong: retrying will not fix it
        this.emit('fatal', { status: res.status });
        return;
      }
      // 503 (and 429, 5xx): at least Retry-After, and the backoff window.
      const ms = Math.max(retryAfter ?? 0, this.backoff());
      if (!(await this.wait(ms, `status ${res.status}`, gen))) return;
    }
  }

  // Resolves with an open WebSocket, or null when it failed or timed out.
  open(endpoint) {
    return new Promise((resolve) => {
      let ws;
      try {
        ws = new this.WebSocket(endpoint);
      } catch {
        resolve(null);
        return;
      }
      let done = false;
      const finish = (ok) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        ws.onopen = ws.onerror = ws.onclose = null;
        if (!ok) {
          try { ws.close(); } catch { /* already closed */ }
        }
        resolve(ok ? ws : null);
      };
      const timer = setTimeout(() => finish(false), this.opts.connectTimeoutMs);
      ws.onopen = () => finish(true);
      ws.onerror = () => finish(false);
      ws.onclose = () => finish(false);
    });
  }

  attached(ws, endpoint, gen) {
    this.ws = ws;
    this.endpoint = endpoint;
    this.exclude = [];
    const opened = Date.now();
    this.emit('open', { endpoint });
    ws.onmessage = (ev) => this.opts.onMessage?.(ev, this);
    ws.onclose = (ev) => {
      if (this.ws === ws) this.ws = null;
      this.emit('close', { endpoint, code: ev.code });
      this.opts.onClose?.(ev, this);
      if (!this.running || gen !== this.generation) return;
      // Lived long: a fresh start (a short jittered pause spreads the
      // clients of a node that went away); else the backoff keeps growing.
      if (Date.now() - opened >= this.opts.stableMs) this.attempt = 0;
      this.wait(this.backoff(), 'connection closed', gen).then((go) => { if (go) this.loop(gen); });
    };
    this.opts.onOpen?.(ws, endpoint, this);
  }
}
