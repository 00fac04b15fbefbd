// The dashboard's views, in nav order. A feature that gets a view (releases, recordings, components,
// GitOps…) adds one entry here: { id, title, component }; `id` is its path (/id) and nav key. `load`
// (optional: the function the view passes to useLive) lets main.js ask for its data before the first paint.
import { Overview, load as loadOverview } from './overview.js';
import { Services, load as loadServices } from './services.js';
import { Logs } from './logs.js';
import { Metrics } from './metrics.js';
import { Events } from './events.js';
import { Nodes } from './nodes.js';
import { Traces } from './traces.js';
import { Releases } from './releases.js';
import { GitOps } from './gitops.js';
import { RecordingsView } from './recordings.js';
import { Components } from './components.js';

export const views = [
  { id: 'overview', title: 'Overview', component: Overview, load: loadOverview },
  { id: 'services', title: 'Services', component: Services, load: loadServices },
  { id: 'logs', title: 'Logs', component: Logs },
  { id: 'metrics', title: 'Metrics', component: Metrics },
  { id: 'traces', title: 'Traces', component: Traces },
  { id: 'events', title: 'Events', component: Events },
  { id: 'nodes', title: 'Nodes', component: Nodes },
  { id: 'releases', title: 'Releases', component: Releases },
  { id: 'gitops', title: 'GitOps', component: GitOps },
  { id: 'recordings', title: 'Recordings', component: RecordingsView },
  { id: 'components', title: 'Components', component: Components },
];
