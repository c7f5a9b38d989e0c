// cdp.mjs: a tiny Chrome DevTools Protocol client for tests (Node.js 20
// with --experimental-websocket; no npm packages).
//
//   node --experimental-websocket cdp.mjs PORT open URL
//       opens a tab on URL; prints its target id
//   node --experimental-websocket cdp.mjs PORT wait ID EXPR TIMEOUT_MS
//       evaluates the JavaScript expression EXPR in the tab every 100 ms
//       until it is truthy; prints its value as JSON (exit 0), or the last
//       value and exit 1 at the timeout
const [port, cmd, ...args] = process.argv.slice(2);
const base = `http://127.0.0.1:${port}`;

async function evaluate(wsUrl, expression) {
  const ws = new WebSocket(wsUrl);
  await new Promise((ok, fail) => { ws.onopen = ok; ws.onerror = () => fail(new Error('devtools socket')); });
  const reply = new Promise((ok) => {
    ws.onmessage = (ev) => {
      const m = JSON.parse(ev.data);
      if (m.id === 1) ok(m);
    };
  });
  ws.send(JSON.stringify({ id: 1, method: 'Runtime.evaluate', params: { expression, returnByValue: true } }));
  const m = await reply;
  ws.close();
  return m.result?.result?.value;
}

if (cmd === 'open') {
  const r = await fetch(`${base}/json/new?${encodeURIComponent(args[0])}`, { method: 'PUT' });
  const t = await r.json();
  console.log(t.id);
} else if (cmd === 'wait') {
  const [id, expr, timeout] = args;
  const until = Date.now() + Number(timeout);
  let value;
  for (;;) {
    try {
      const list = await (await fetch(`${base}/json/list`)).json();
      const t = list.find((x) => x.id === id);
      if (t) value = await evaluate(t.webSocketDebuggerUrl, expr);
    } catch (e) {
      value = `(${e.message})`;
    }
    if (value) {
      console.log(JSON.stringify(value));
      process.exit(0);
    }
    if (Date.now() > until) {
      console.log(JSON.stringify(value ?? null));
      process.exit(1);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
} else {
  console.error('usage: cdp.mjs PORT open URL | PORT wait ID EXPR TIMEOUT_MS');
  process.exit(2);
}
