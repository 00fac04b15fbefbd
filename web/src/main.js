// The dashboard's shell: the nav (from the view registry), the path router (/overview, /services…,
// history API) and the live-stream indicator. Each view fetches what it shows and follows `change`.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { html } from './html.js';
import { get, subscribe, streamState } from './api.js';
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

function App() {
  const [view, setView] = useState(currentView());
  const [live, setLive] = useState(streamState);
  const [app, setApp] = useState('');
  useEffect(() => {
    const onPop = () => setView(currentView());
    addEventListener('popstate', onPop);
    const off = subscribe('status', setLive);
    get('/api/v1/healthz').then((h) => setApp(h.app || ''), () => {});
    return () => {
      removeEventListener('popstate', onPop);
      off();
    };
  }, []);
  useEffect(() => {
    document.title = `${view.title} · ${app || 'Berth'} · Berth`;
  }, [view, app]);
  const View = view.component;
  return html`<div class="shell">
    <nav class="nav">
      <div class="brand">Berth<span class="app">${app}</span></div>
      ${views.map(
        (v) => html`<a href=${`/${v.id}`} class=${v === view ? 'active' : ''} data-view=${v.id}
          onClick=${(e) => {
            e.preventDefault();
            navigate(v.id);
          }}>${v.title}</a>`,
      )}
      <div class=${`live ${live}`} title="live updates from the control plane">${live === 'live' ? '● live' : `○ ${live}`}</div>
    </nav>
    <main class="main" data-testid=${`view-${view.id}`}><h1>${view.title}</h1><${View} /></main>
  </div>`;
}

render(html`<${App} />`, document.getElementById('app'));
