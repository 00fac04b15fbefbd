// Node's internal stream binding (process.binding('stream_wrap'), the objects net itself uses), for
// the data path's shortcuts past net.Socket: direct-write.ts (writes to the handle) and
// direct-read.ts (the handle's read callback). Where it is missing or has another shape, both
// shortcuts stay off and net's own paths serve. BERTH_PROXY_DIRECT_WRITES=0 turns both off.

export interface WriteReq {
  handle?: unknown;
  oncomplete?: (status: number) => void;
  /** The bytes of a pending write: libuv reads them from memory only this reference keeps alive. */
  buffer?: Uint8Array;
}

export interface StreamBinding {
  WriteWrap: new () => WriteReq;
  /** Where the handle leaves a read's byte count (or error) and a write's outcome for JavaScript. */
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
  kLastWriteWasAsync: number;
}

function load(): { stream: StreamBinding; TCP: abstract new () => unknown } | undefined {
  if (process.env.BERTH_PROXY_DIRECT_WRITES === '0') return undefined;
  try {
    const binding = (process as unknown as { binding(name: string): unknown }).binding;
    const stream = binding('stream_wrap') as Partial<StreamBinding>;
    const tcp = binding('tcp_wrap') as { TCP?: abstract new () => unknown };
    if (
      typeof stream.WriteWrap !== 'function' ||
      !(stream.streamBaseState instanceof Int32Array) ||
      typeof stream.kLastWriteWasAsync !== 'number' ||
      typeof stream.kReadBytesOrError !== 'number' ||
      typeof tcp.TCP !== 'function'
    )
      return undefined;
    return { stream: stream as StreamBinding, TCP: tcp.TCP };
  } catch {
    // No such binding in this Node: net's paths are the only paths.
    return undefined;
  }
}

/** The binding and the TCP handle class, or undefined (shortcuts off). */
export const streamBinding = load();
