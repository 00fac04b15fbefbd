export interface BindingEvent {
  data: Buffer;
  metadata: Record<string, string>;
}

/** Triggers the app (Dapr POSTs each event to /<binding name> or the `route` metadata). */
export interface InputBinding {
  readonly name: string;
  readonly type: string;
  /** Starts producing events; the handler's rejection is reported, not fatal. */
  read(handler: (event: BindingEvent) => Promise<void>): Promise<{ close(): Promise<void> }>;
  close(): Promise<void>;
}

export interface BindingInvokeRequest {
  operation: string;
  data?: Buffer;
  metadata?: Record<string, string>;
}

export interface OutputBinding {
  readonly name: string;
  readonly type: string;
  operations(): string[];
  invoke(request: BindingInvokeRequest): Promise<BindingEvent>;
  close(): Promise<void>;
}

export class BindingError extends Error {
  constructor(
    message: string,
    readonly code: 'ERR_INVOKE_OUTPUT_BINDING' | 'ERR_MALFORMED_REQUEST' = 'ERR_INVOKE_OUTPUT_BINDING',
  ) {
    super(message);
    this.name = 'BindingError';
  }
}
