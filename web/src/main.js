// The dashboard's shell: the nav (from the view registry), the path router (/overview, /services…,
// history API) and the live-stream indicator. Each view fetches what it shows and follows `change`.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { html } from './html.js';
import { get, prime, subscribe, streamState } from './api.js';
import { views } from './views/index.js';
import 'uplot/dist/uPlot.min.css';
import './style.css';

function currentView() {
  const id = location.pathname.replace(/^\//, '') || 'overview';
  return views.find((v) => v.id === id) || views[0];
}

export function navigate(id, search = '') {
  history.pushState(null, '', `/${id}${search}`);
  dispatchEvent(new PopStateEvent('popstate'));
}

// The nav keeps the app name and the stream state: their changes redraw it, not the view (a table of
// 50 instances is not diffed again because the stream went live).
function Nav({ view }) {
  const [live, setLive] = useState(streamState);
  const [app, setApp] = useState('');
  useEffect(() => {
    const off = subscribe('status', setLive);
    get('/api/v1/healthz').then((h) => setApp(h.app || ''), () => {});
    return off;
  }, []);
  useEffect(() => {
    document.title = `${view.title} · ${app || 'Berth'} · Berth`;
  }, [view, app]);
  return html`<nav class="nav">
    <div class="brand">Berth<span class="app">${app}</span></div>
    ${views.map(
      (v) => html`<a href=${`/${v.id}`} class=${v === view ? 'active' : ''} data-view=${v.id}
        onClick=${(e) => {
          e.preventDefault();
          navigate(v.id);
        }}>${v.title}</a>`,
    )}
    <div class=${`live ${live}`} title="live updates from the control plane">${live === 'live' ? '● live' : `○ ${live}`}</div>
  </nav>`;
}

function App() {
  const [view, setView] = useState(currentView());
  useEffect(() => {
    const onPop = () => setView(currentView());
    addEventListener('popstate', onPop);
    return () => removeEventListener('popstate', onPop);
  }, []);
  const View = view.component;
  return html`<div class="shell">
    <${Nav} view=${view} />
    <main class="main" data-testid=${`view-${view.id}`}><h1>${view.title}</h1><${View} /></main>
  </div>`;
}

prime(currentView().load);
render(html`<${App} />`, document.getElementById('app'));
