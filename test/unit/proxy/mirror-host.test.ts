// A mirrored copy's Host: "-shadow" goes on the host name, before any port (Envoy's form since 2018;
// after the port, `orders:8080-shadow`, servers that parse the port — Tomcat — refuse the copy).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shadowHost } from '../../../src/sidecar/proxy/mirror.js';

test('"-shadow" is added to the host name, before the port', () => {
  assert.equal(shadowHost('orders'), 'orders-shadow');
  assert.equal(shadowHost('orders:8080'), 'orders-shadow:8080');
  assert.equal(shadowHost('orders.shop.svc.cluster.local:80'), 'orders.shop.svc.cluster.local-shadow:80');
  assert.equal(shadowHost('127.0.0.1:3000'), '127.0.0.1-shadow:3000');
  assert.equal(shadowHost('[::1]:3000'), '[::1]-shadow:3000');
  assert.equal(shadowHost('[::1]'), '[::1]-shadow');
});
