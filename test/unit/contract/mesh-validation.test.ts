// Spec strings that reach the data plane are refused at validate time when they would misbehave:
// route regexes RE2 cannot run (issue 12 point 7), header names and values that would inject
// header lines (issue 11 point 9: a YAML `|` block adds a trailing newline), probe paths with
// spaces; and a weighted route mixing a variant-less destination with a variant of the same
// service is warned about (issue 12 point 16).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { validateSpecText } from '../../../src/contract/index.js';
import { tempDir, yaml } from './helpers.js';

const file = join(tempDir({}), 'berth.yaml');

function errorsOf(text: string): { line: number; col: number; path: string; message: string }[] {
  const r = validateSpecText(text, file);
  return r.ok ? [] : r.errors;
}

const withRoute = (route: string): string => `app: shop\nservices:\n  web:\n    run: node web.js\n    port: 8080\n    routes:\n${route}\n`;

test('route regexes: RE2 syntax is accepted; backreferences and lookaround are refused at file:line:col', () => {
  assert.deepEqual(errorsOf(withRoute('      - match: { path: { regex: "/(a+)+$" }, headers: { x-id: { regex: "[0-9a-f]{8}" } } }')), []);
  const cases: { route: string; path: string; col: number }[] = [
    { route: '      - match: { path: { regex: "/(a)\\\\1" } }', path: 'services.web.routes.0.match.path.regex', col: 33 },
    { route: '      - match: { path: { regex: "/(?=admin)" } }', path: 'services.web.routes.0.match.path.regex', col: 33 },
    { route: '      - match: { headers: { x-user: { regex: "(?<!bot)x" } } }', path: 'services.web.routes.0.match.headers.x-user.regex', col: 46 },
    { route: '      - match: { query: { q: { regex: "a{1001}" } } }', path: 'services.web.routes.0.match.query.q.regex', col: 39 },
  ];
  for (const c of cases) {
    const errs = errorsOf(withRoute(c.route));
    assert.equal(errs.length, 1, `${c.route}: ${JSON.stringify(errs)}`);
    assert.equal(errs[0].path, c.path);
    assert.equal(errs[0].line, 7, c.route);
    assert.equal(errs[0].col, c.col, c.route);
    assert.match(errs[0].message, /RE2/);
  }
  assert.match(errorsOf(withRoute('      - match: { path: { regex: "/(?=admin)" } }'))[0].message, /no backreferences or lookaround/);
});

test('header rewrites: CR, LF, NUL and invalid names are refused at file:line:col (a `|` block adds a newline)', () => {
  const text = yaml`
    app: shop
    services:
      web:
        run: node web.js
        port: 8080
        routes:
          - headers:
              request:
                set:
                  x-ok: fine value
                  x-block: |
                    injected
                add: { "bad name": v, x-nul: "a\\0b" }
                remove: [x-gone, "x\\r\\ny"]
              response:
                set: { x-split: "a\\r\\nSet-Cookie: evil=1" }
  `;
  const errs = errorsOf(text);
  const at = (path: string) => errs.find((e) => e.path === path);
  assert.equal(errs.length, 5, JSON.stringify(errs, null, 1));
  const block = at('services.web.routes.0.headers.request.set.x-block');
  assert.ok(block && block.line === 11, JSON.stringify(errs));
  assert.match(block.message, /line break.*`\|-`/);
  const name = at('services.web.routes.0.headers.request.add.bad name');
  assert.ok(name && name.line === 13, JSON.stringify(errs));
  assert.match(name.message, /not a valid header name/);
  assert.match(at('services.web.routes.0.headers.request.add.x-nul')?.message ?? '', /CR, LF or NUL/);
  assert.equal(at('services.web.routes.0.headers.request.remove.1')?.line, 14);
  assert.equal(at('services.web.routes.0.headers.response.set.x-split')?.line, 16);
});

test('probe headers and paths become a request: refused when they would break it', () => {
  const text = yaml`
    app: shop
    services:
      web:
        run: node web.js
        port: 8080
        probes:
          readiness: { http: { path: "/ready now", headers: { X-Probe: "a\\nb", "X Bad": ok } } }
  `;
  const errs = errorsOf(text);
  assert.deepEqual(errs.map((e) => `${e.line} ${e.path}`).sort(), [
    '7 services.web.probes.readiness.http.headers.X Bad',
    '7 services.web.probes.readiness.http.headers.X-Probe',
    '7 services.web.probes.readiness.http.path',
  ]);
});

test('a weighted route mixing a variant-less destination with a variant of the same service warns and suggests `variant: default`', () => {
  const text = yaml`
    app: shop
    services:
      web:
        run: node web.js
        port: 8080
        variants: { canary: { env: { CANARY: "1" } } }
        routes:
          - to:
              - { service: web, weight: 90 }
              - { service: web, variant: canary, weight: 10 }
  `;
  const r = validateSpecText(text, file);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  if (!r.ok) return;
  assert.equal(r.warnings.length, 1, JSON.stringify(r.warnings));
  const w = r.warnings[0];
  assert.equal(w.path, 'services.web.routes.0.to.0');
  assert.equal(w.line, 9);
  assert.match(w.message, /every instance of `web`, variant `canary` included/);
  assert.match(w.hint ?? '', /variant: default/);
  const fixed = validateSpecText(text.replace('{ service: web, weight: 90 }', '{ service: web, variant: default, weight: 90 }'), file);
  assert.ok(fixed.ok && fixed.warnings.length === 0, JSON.stringify(fixed));
});

test("route retries: gRPC status names (Istio's retryOn) are accepted beside the HTTP ones; an unknown one is refused at file:line:col", () => {
  assert.deepEqual(errorsOf(withRoute('      - retries: { attempts: 2, retryOn: [5xx, reset, unavailable, resource-exhausted, cancelled, deadline-exceeded, internal], nonIdempotent: true }')), []);
  const errs = errorsOf(withRoute('      - retries: { retryOn: [unavailable, retriable-4xx] }'));
  assert.equal(errs.length, 1, JSON.stringify(errs));
  assert.equal(errs[0].path, 'services.web.routes.0.retries.retryOn.1');
  assert.equal(errs[0].line, 7);
});

test('a gRPC service: route retries without nonIdempotent are warned about (they would apply to no call); a mirror is not (calls are copied)', () => {
  const text = yaml`
    app: shop
    services:
      greeter:
        run: node greeter.js
        port: 50051
        protocol: grpc
        routes:
          - retries: { attempts: 2, retryOn: [unavailable] }
            mirror: { service: greeter }
  `;
  const r = validateSpecText(text, file);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  if (!r.ok) return;
  assert.deepEqual(r.warnings.map((w) => [w.path, w.line]), [['services.greeter.routes.0.retries', 8]]);
  assert.match(r.warnings[0].message, /nonIdempotent: true/);
  const fixed = validateSpecText(text.replace('retryOn: [unavailable] }', 'retryOn: [unavailable], nonIdempotent: true }'), file);
  assert.ok(fixed.ok && fixed.warnings.length === 0, JSON.stringify(fixed));
  // An HTTP service's routes are not concerned.
  const http = validateSpecText(text.replace('protocol: grpc', 'protocol: http'), file);
  assert.ok(http.ok && http.warnings.length === 0, JSON.stringify(http));
});

test('route header matches: a pseudo-header (`:authority`, Envoy\'s habit) or an invalid name is refused at file:line:col — such a match never held', () => {
  const errs = errorsOf(withRoute('      - match: { headers: { host: { exact: a }, ":authority": { exact: a }, ":method": { exact: GET }, "bad name": { present: true } } }'));
  assert.equal(errs.length, 3, JSON.stringify(errs, null, 1));
  const at = (path: string) => errs.find((e) => e.path === path);
  const authority = at('services.web.routes.0.match.headers.:authority');
  assert.ok(authority && authority.line === 7 && authority.col > 1, JSON.stringify(errs));
  assert.match(authority.message, /pseudo-header.*match `host`/);
  assert.match(at('services.web.routes.0.match.headers.:method')?.message ?? '', /use `method`/);
  assert.match(at('services.web.routes.0.match.headers.bad name')?.message ?? '', /not a valid header name/);
});

test('route and ingress paths holding `?` or `#` are refused at file:line:col — routes match the path without its query, so such a match never held', () => {
  assert.deepEqual(errorsOf(withRoute('      - match: { path: { prefix: /api/v1.0 } }')), []);
  const errs = errorsOf(withRoute('      - match: { path: { exact: "/a?b=1" } }\n      - match: { path: { prefix: "/x#y" } }'));
  assert.deepEqual(
    errs.map((e) => [e.path, e.line]),
    [
      ['services.web.routes.0.match.path.exact', 7],
      ['services.web.routes.1.match.path.prefix', 8],
    ],
    JSON.stringify(errs),
  );
  assert.match(errs[0].message, /without the query.*`query`/);
  const ingress = errorsOf('app: shop\nservices:\n  web:\n    run: node web.js\n    port: 8080\ningress:\n  port: 8000\n  routes:\n    - match: { path: { prefix: "/shop?x" } }\n      to: web\n');
  assert.deepEqual(
    ingress.map((e) => [e.path, e.line]),
    [['ingress.routes.0.match.path.prefix', 9]],
    JSON.stringify(ingress),
  );
});

test('mesh.trustedHops: a whole number 0–16 reaches the snapshot config; anything else is refused at file:line:col', () => {
  const spec = (v: string): string => `app: shop\nmesh:\n  trustedHops: ${v}\nservices:\n  web:\n    run: node web.js\n    port: 8080\n`;
  assert.deepEqual(errorsOf(spec('1')), []);
  for (const [v, message] of [['-1', /0 or more/], ['1.5', /whole number/], ['17', /at most 16/], ['"one"', /number/]] as const) {
    const errs = errorsOf(spec(v));
    assert.equal(errs.length, 1, `${v}: ${JSON.stringify(errs)}`);
    assert.deepEqual([errs[0].path, errs[0].line, errs[0].col], ['mesh.trustedHops', 3, 16], v);
    assert.match(errs[0].message, message, v);
  }
});
