// Probes: one Probe interface, four implementations, a pure state machine and the runner that drives it.
export type { Probe, ProbeResult, ProbeCheckOptions } from './probe.js';
export { HttpProbe } from './http-probe.js';
export { TcpProbe } from './tcp-probe.js';
export { ExecProbe } from './exec-probe.js';
export { GrpcProbe, encodeHealthCheckRequest, decodeHealthCheckResponse } from './grpc-probe.js';
export { ProbeStateMachine, FAST_POLL_MS, type ProbeTiming, type ProbeVerdict } from './probe-state.js';
export { ProbeRunner, type ProbeKind } from './probe-runner.js';
export { createProbe, type ProbeTargetContext } from './create-probe.js';
