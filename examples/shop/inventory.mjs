// inventory: in-memory stock per SKU; answers stock queries and reserves items for orders.
import { serve, readJson, HttpError } from './lib/http.mjs';

const stock = new Map([
  ['mug', { name: 'Berth mug', qty: 25 }],
  ['tshirt', { name: 'Berth t-shirt', qty: 10 }],
  ['sticker', { name: 'Sticker pack', qty: 100 }],
  ['hoodie', { name: 'Harbour hoodie', qty: 3 }],
]);

const item = (sku) => {
  const found = stock.get(sku);
  if (!found) throw new HttpError(404, `unknown sku ${sku}`);
  return found;
};

serve({
  service: 'inventory',
  port: 8082,
  routes: {
    'GET /stock': () => [200, { items: [...stock].map(([sku, { name, qty }]) => ({ sku, name, qty })) }],
    'GET /stock/:sku': ({ params }) => [200, { sku: params.sku, ...item(params.sku) }],
    'POST /reserve': async ({ req }) => {
      const { sku, qty } = await readJson(req);
      if (typeof sku !== 'string' || !sku || !Number.isInteger(qty) || qty < 1) throw new HttpError(400, 'expected {sku: string, qty: integer >= 1}');
      const found = item(sku);
      if (found.qty < qty) return [409, { error: `only ${found.qty} ${sku} left`, sku, available: found.qty }];
      found.qty -= qty;
      return [200, { sku, reserved: qty, remaining: found.qty }];
    },
  },
});
