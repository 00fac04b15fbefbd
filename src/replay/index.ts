// Public surface of src/replay: the HAR format (types, validator, reader, streaming writer), the
// response differ with its per-endpoint report, and the replayer.
export * from './har.js';
export { HarWriter, type HarWriterOptions, type HarWriterStats } from './har-writer.js';
export { routePattern, endpointKey } from './route-pattern.js';
export {
  diffResponses,
  generalizePath,
  IgnoreRules,
  NoiseModel,
  DiffCollector,
  DEFAULT_COMPARED_HEADERS,
  type ComparableResponse,
  type FieldDiff,
  type DiffOptions,
  type DiffReport,
  type EndpointReport,
  type FieldSummary,
} from './diff.js';
export { renderHtmlReport, type ReportContext } from './report-html.js';
export { parseFilter, anyOf, FilterError, type ExchangeFilter } from './filter.js';
export { replay, parseRate, RateError, type ReplayRate, type ReplayTarget, type ReplayOptions, type ReplayProgress, type ReplayResult, type SkipCounts } from './replayer.js';
export { saveReplayReport, readReplayReport, listReplayReports, replaysDir, REPLAY_REPORTS_KEPT, type StoredReplayReport, type ReplayReportSummary } from './report-store.js';
