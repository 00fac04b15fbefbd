// Decoding of the chunked transfer coding (RFC 9112 §7.1), incremental: bytes may arrive split
// anywhere. Shared by the lean server (request bodies) and the upstream client (answers).
// Chunk extensions are skipped; trailers are read to their end and dropped.

const enum Chunk {
  Size,
  SizeLineEnd,
  Data,
  DataEnd,
  Trailers,
}

/** Decodes a chunked request body incrementally. feed() returns the index just past the body's end, -1 for "more", or 'error'. */
export class ChunkedBodyDecoder {
  private state = Chunk.Size;
  private size = 0;
  private sawDigit = false;
  private lineEmpty = true;

  feed(d: Buffer, out: (piece: Buffer) => void): number | 'error' {
    let i = 0;
    while (i < d.length) {
      switch (this.state) {
        case Chunk.Size: {
          const c = d[i++];
          const hex = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
          if (hex >= 0) {
            this.size = this.size * 16 + hex;
            this.sawDigit = true;
            if (this.size > 2 ** 40) return 'error';
          } else if (this.sawDigit && (c === 13 || c === 59 || c === 32 || c === 9)) this.state = Chunk.SizeLineEnd;
          else return 'error';
          break;
        }
        case Chunk.SizeLineEnd: {
          const nl = d.indexOf(10, i);
          if (nl < 0) return -1;
          i = nl + 1;
          this.sawDigit = false;
          if (this.size === 0) {
            this.state = Chunk.Trailers;
            this.lineEmpty = true;
          } else this.state = Chunk.Data;
          break;
        }
        case Chunk.Data: {
          const take = Math.min(d.length - i, this.size);
          out(d.subarray(i, i + take));
          i += take;
          this.size -= take;
          if (this.size === 0) this.state = Chunk.DataEnd;
          break;
        }
        case Chunk.DataEnd: {
          const c = d[i++];
          if (c === 10) this.state = Chunk.Size;
          else if (c !== 13) return 'error';
          break;
        }
        case Chunk.Trailers: {
          const c = d[i++];
          if (c === 10) {
            if (this.lineEmpty) return i;
            this.lineEmpty = true;
          } else if (c !== 13) this.lineEmpty = false;
          break;
        }
      }
    }
    return -1;
  }
}
