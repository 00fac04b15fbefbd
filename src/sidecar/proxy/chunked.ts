// Decoding of the chunked transfer coding (RFC 9112 §7.1), incremental: bytes may arrive split
// anywhere. Shared by the lean server (request bodies) and the upstream client (answers).
// Exactly as strict as llhttp, Node's parser (checked differentially in
// test/unit/proxy/llhttp-oracle.test.ts): hex sizes with nothing after them but `;` extensions
// (`;name`, `;name=token`, `;name="quoted"`, no whitespace) and CRLF; CRLF after the data; trailer
// lines are header lines (a token name, a value without controls) and are read to their end and
// dropped (Content-Length or Transfer-Encoding among them is refused). A bare CR or LF anywhere is
// an error.
import { TCHAR } from './http-syntax.js';

const enum Chunk {
  Size,
  ExtName,
  ExtNameMore,
  ExtValueStart,
  ExtToken,
  ExtQuoted,
  ExtQuotedEscape,
  ExtAfterQuoted,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  TrailerStart,
  TrailerName,
  TrailerValue,
  TrailerLf,
  EndLf,
}

/** A size at least this large cannot take another hex digit: it would pass 2^64 (llhttp's limit). */
const MAX_SIZE = 2 ** 60;
/** Extension bytes one chunk-size line may carry (node's limit over llhttp, CVE-2024-22019: 413 beyond). */
export const MAX_EXTENSION_BYTES = 16 * 1024;
/** Bytes the trailer section may take (node's header size limit, which counts trailers: 431 beyond). */
export const MAX_TRAILER_BYTES = 16 * 1024;

function isTchar(c: number): boolean {
  return c < 128 && TCHAR[c] === 1;
}

/** A value byte of a header line (llhttp): HTAB, visible ASCII, SP, obs-text; not other controls or DEL. */
function isValueByte(c: number): boolean {
  return c === 9 || (c >= 32 && c !== 127);
}

/** Decodes a chunked body incrementally. feed() returns the index just past the body's end, -1 for "more", or 'error'. */
export class ChunkedBodyDecoder {
  private state = Chunk.Size;
  private size = 0;
  private sawDigit = false;
  /** The current trailer line's name, lower-cased (to refuse framing headers there). */
  private trailerName = '';
  /** Extension bytes of the current size line, and trailer bytes so far: both bounded, as node does. */
  private extensionBytes = 0;
  private trailerBytes = 0;
  /** Set with an 'error' that is a limit passed, not malformed input: 413 (extensions) or 431 (trailers). */
  overflow: 413 | 431 | undefined;

  feed(d: Buffer, out: (piece: Buffer) => void): number | 'error' {
    let i = 0;
    while (i < d.length) {
      if (this.state === Chunk.Data) {
        const take = Math.min(d.length - i, this.size);
        out(d.subarray(i, i + take));
        i += take;
        this.size -= take;
        if (this.size === 0) this.state = Chunk.DataCr;
        continue;
      }
      const c = d[i++];
      if (this.state >= Chunk.ExtName && this.state <= Chunk.ExtAfterQuoted && ++this.extensionBytes > MAX_EXTENSION_BYTES) {
        this.overflow = 413;
        return 'error';
      }
      if (this.state >= Chunk.TrailerStart && this.state <= Chunk.TrailerLf && ++this.trailerBytes > MAX_TRAILER_BYTES) {
        this.overflow = 431;
        return 'error';
      }
      switch (this.state) {
        case Chunk.Size: {
          const hex = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
          if (hex >= 0) {
            // llhttp refuses a size that overflows 64 bits; past 2^53 the count is approximate, which
            // cannot matter (no body of 2^53 bytes will ever complete).
            if (this.size >= MAX_SIZE) return 'error';
            this.size = this.size * 16 + hex;
            this.sawDigit = true;
          } else if (this.sawDigit && c === 13) this.state = Chunk.SizeLf;
          else if (this.sawDigit && c === 59) this.state = Chunk.ExtName;
          else return 'error';
          break;
        }
        case Chunk.ExtName:
          // Right after ';' llhttp also takes '=' (an empty name) and another ';', but not the line's end.
          if (c === 61) this.state = Chunk.ExtValueStart;
          else if (c === 59) this.state = Chunk.ExtName;
          else if (isTchar(c)) this.state = Chunk.ExtNameMore;
          else return 'error';
          break;
        case Chunk.ExtNameMore:
          if (c === 61) this.state = Chunk.ExtValueStart;
          else if (c === 59) this.state = Chunk.ExtName;
          else if (c === 13) this.state = Chunk.SizeLf;
          else if (!isTchar(c)) return 'error';
          break;
        case Chunk.ExtValueStart:
          if (c === 34) this.state = Chunk.ExtQuoted;
          else if (c === 59) this.state = Chunk.ExtName;
          else if (c === 13) this.state = Chunk.SizeLf;
          else if (isTchar(c)) this.state = Chunk.ExtToken;
          else return 'error';
          break;
        case Chunk.ExtToken:
          // llhttp lets a quoted part follow a token (`a=0"q"`).
          if (c === 34) this.state = Chunk.ExtQuoted;
          else if (c === 59) this.state = Chunk.ExtName;
          else if (c === 13) this.state = Chunk.SizeLf;
          else if (!isTchar(c)) return 'error';
          break;
        case Chunk.ExtQuoted:
          if (c === 34) this.state = Chunk.ExtAfterQuoted;
          else if (c === 92) this.state = Chunk.ExtQuotedEscape;
          else if (!isValueByte(c)) return 'error';
          break;
        case Chunk.ExtQuotedEscape:
          if (!isValueByte(c)) return 'error';
          this.state = Chunk.ExtQuoted;
          break;
        case Chunk.ExtAfterQuoted:
          if (c === 59) this.state = Chunk.ExtName;
          else if (c === 13) this.state = Chunk.SizeLf;
          else return 'error';
          break;
        case Chunk.SizeLf:
          if (c !== 10) return 'error';
          this.sawDigit = false;
          this.extensionBytes = 0;
          this.state = this.size === 0 ? Chunk.TrailerStart : Chunk.Data;
          break;
        case Chunk.DataCr:
          if (c !== 13) return 'error';
          this.state = Chunk.DataLf;
          break;
        case Chunk.DataLf:
          if (c !== 10) return 'error';
          this.state = Chunk.Size;
          break;
        case Chunk.TrailerStart:
          if (c === 13) this.state = Chunk.EndLf;
          else if (isTchar(c)) {
            this.trailerName = String.fromCharCode(c | 0x20);
            this.state = Chunk.TrailerName;
          } else return 'error';
          break;
        case Chunk.TrailerName:
          if (c === 58) {
            const n = this.trailerName;
            if (n === 'content-length' || n === 'transfer-encoding') return 'error';
            this.state = Chunk.TrailerValue;
          } else if (isTchar(c)) {
            if (this.trailerName.length < 18) this.trailerName += String.fromCharCode(c >= 65 && c <= 90 ? c | 0x20 : c);
          } else return 'error';
          break;
        case Chunk.TrailerValue:
          if (c === 13) this.state = Chunk.TrailerLf;
          else if (!isValueByte(c)) return 'error';
          break;
        case Chunk.TrailerLf:
          if (c !== 10) return 'error';
          this.state = Chunk.TrailerStart;
          break;
        case Chunk.EndLf:
          if (c !== 10) return 'error';
          return i;
      }
    }
    return -1;
  }
}
