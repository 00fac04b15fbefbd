// web: the shop's front end; shows the greeting, who served the request and the stock, and places orders.
import { serve, call, upstream } from './lib/http.mjs';

const orders = upstream('orders', 8081);
const greeting = process.env.GREETING ?? 'Welcome to the shop';
const escape = (s) => s.replace(/[&<>"]/g, (c) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot' }[c]};`);

serve({
  service: 'web',
  port: 8080,
  needs: orders,
  routes: {
    'GET /': async ({ req, me }) => {
      const lines = [greeting, '', `served by ${me.instance} (revision ${me.revision}, node ${me.node}, ${me.host}, pid ${me.pid})`, ''];
      try {
        const { status, body } = await call(orders, '/catalog');
        if (status !== 200) throw new Error(body.error ?? `status ${status}`);
        lines.push('stock:', ...body.items.map((i) => `  ${i.sku.padEnd(8)} ${String(i.qty).padStart(4)}  ${i.name}`));
      } catch (err) {
        lines.push(`stock unavailable: ${err.message}`);
      }
      lines.push('', `buy: curl -X POST "http://${req.headers.host}/buy?sku=mug&qty=1"`, '');
      const text = lines.join('\n');
      if (!req.headers.accept?.includes('text/html')) return [200, text];
      return [200, `<!doctype html><title>${escape(greeting)}</title><pre>${escape(text)}</pre>\n`, 'text/html; charset=utf-8'];
    },
    'POST /buy': async ({ url }) => {
      const sku = url.searchParams.get('sku') ?? '';
      const qty = Number(url.searchParams.get('qty') ?? 1);
      const { status, body } = await call(orders, '/orders', { method: 'POST', body: { sku, qty } });
      return [status, body];
    },
    'GET /api/whoami': ({ me }) => [200, { service: me.service, instance: me.instance, revision: me.revision, node: me.node, host: me.host, pid: me.pid }],
  },
});
