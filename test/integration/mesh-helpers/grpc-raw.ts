// grpc-js without protobuf, for the mesh's gRPC tests: the test module's grpc-js and the methods of a
// `test.Greeter` service whose messages are raw bytes.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { repoRoot } from '../harness/berth.js';

const require = createRequire(join(repoRoot, 'package.json'));
export const grpc = require('@grpc/grpc-js') as typeof import('@grpc/grpc-js');

export const identity = (b: Buffer): Buffer => b;

/** The definition of `/test.Greeter/<name>`, messages passed as they are. */
export const method = (name: string, requestStream: boolean, responseStream: boolean) => ({
  path: `/test.Greeter/${name}`,
  requestStream,
  responseStream,
  requestSerialize: identity,
  requestDeserialize: identity,
  responseSerialize: identity,
  responseDeserialize: identity,
});
