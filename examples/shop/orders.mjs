// orders: places orders (reserving stock in inventory first) and lists them; proxies the catalog.
import { serve, readJson, call, upstream, HttpError } from './lib/http.mjs';

const inventory = upstream('inventory', 8082);
const orders = [];

serve({
  service: 'orders',
  port: 8081,
  needs: inventory,
  routes: {
    'GET /orders': () => [200, { orders }],
    'GET /catalog': async () => {
      const { status, body } = await call(inventory, '/stock');
      return [status, body];
    },
    'POST /orders': async ({ req, me }) => {
      const { sku, qty } = await readJson(req);
      if (typeof sku !== 'string' || !sku || !Number.isInteger(qty) || qty < 1) throw new HttpError(400, 'expected {sku: string, qty: integer >= 1}');
      const reserved = await call(inventory, '/reserve', { method: 'POST', body: { sku, qty } });
      if (reserved.status !== 200) return [reserved.status, reserved.body];
      const order = { id: orders.length + 1, sku, qty, at: new Date().toISOString(), by: me.instance };
      orders.push(order);
      return [201, order];
    },
  },
});
