// Errors of the building-block API, answered as Dapr answers them: a status code and a JSON body
// `{ errorCode, message }` with Dapr's codes (pkg/messages in dapr/dapr).
import type { ProxyResponse } from '../listener.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function sendJson(res: ProxyResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendError(res: ProxyResponse, err: ApiError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, err.status, { errorCode: err.code, message: err.message });
}

export function sendEmpty(res: ProxyResponse, status = 204, headers: Record<string, string> = {}): void {
  res.writeHead(status, headers);
  res.end();
}

export const malformed = (what: string): ApiError => new ApiError(400, 'ERR_MALFORMED_REQUEST', `failed deserializing HTTP body: ${what}`);
