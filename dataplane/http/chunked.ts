/**
 * Incremental decoder for chunked request bodies (ngx_http_parse_chunked): sizes in hex with optional
 * extensions, data, CRLF, a zero-size last chunk and optional trailers. Malformed input or a size that
 * overflows is an error (400).
 */

/** Extensions and trailers together may not exceed this many bytes per body. */
const META_MAX = 16 * 1024;

const enum_ = { SIZE: 0, EXT: 1, SIZE_LF: 2, DATA: 3, DATA_CR: 4, DATA_LF: 5, TRAILER: 6, TRAILER_LF: 7, TRAILER_LINE: 8, DONE: 9 };

/** ChunkedDecoder decodes one chunked body incrementally; `total` counts data bytes, `error` says why it failed. */
export class ChunkedDecoder {
  #state = enum_.SIZE;
  #size = 0;
  #digits = 0;
  /** Bytes of chunk extensions and trailers seen: they are skipped, not kept, but still bounded. */
  #meta = 0;
  total = 0;
  error: string | undefined;

  get done(): boolean {
    return this.#state === enum_.DONE;
  }

  /**
   * decode consumes bytes from `buf`, emitting body data; returns how many bytes it consumed (it stops right
   * after the terminating CRLF, so the rest belongs to the next request) or -1 on a malformed body.
   */
  decode(buf: Buffer, emit: (data: Buffer) => void): number {
    let i = 0;
    const n = buf.length;
    while (i < n) {
      const s = this.#state;
      if (s === enum_.DATA) {
        const take = Math.min(this.#size, n - i);
        emit(buf.subarray(i, i + take));
        this.#size -= take;
        i += take;
        if (this.#size === 0) this.#state = enum_.DATA_CR;
        continue;
      }
      const c = buf[i++]!;
      switch (s) {
        case enum_.SIZE: {
          const h = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
          if (h >= 0) {
            if (++this.#digits > 15) return this.#fail('invalid chunk size');
            this.#size = this.#size * 16 + h;
          } else if (this.#digits > 0 && (c === 59 || c === 32 || c === 9)) this.#state = enum_.EXT;
          else if (this.#digits > 0 && c === 13) this.#state = enum_.SIZE_LF;
          else if (this.#digits > 0 && c === 10) this.#endSize();
          else return this.#fail('invalid chunk size');
          break;
        }
        case enum_.EXT:
          if (++this.#meta > META_MAX) return this.#fail('too long chunk extension or trailer');
          if (c === 13) this.#state = enum_.SIZE_LF;
          else if (c === 10) this.#endSize();
          break;
        case enum_.SIZE_LF:
          if (c !== 10) return this.#fail('invalid chunk size');
          this.#endSize();
          break;
        case enum_.DATA_CR:
          if (c === 13) this.#state = enum_.DATA_LF;
          else if (c === 10) this.#nextChunk();
          else return this.#fail('invalid chunk data');
          break;
        case enum_.DATA_LF:
          if (c !== 10) return this.#fail('invalid chunk data');
          this.#nextChunk();
          break;
        case enum_.TRAILER:
          if (c === 13) this.#state = enum_.TRAILER_LF;
          else if (c === 10) {
            this.#state = enum_.DONE;
            return i;
          } else this.#state = enum_.TRAILER_LINE;
          break;
        case enum_.TRAILER_LF:
          if (c !== 10) return this.#fail('invalid trailer');
          this.#state = enum_.DONE;
          return i;
        case enum_.TRAILER_LINE:
          if (++this.#meta > META_MAX) return this.#fail('too long chunk extension or trailer');
          if (c === 10) this.#state = enum_.TRAILER;
          break;
        case enum_.DONE:
          return i - 1;
      }
    }
    return i;
  }

  #endSize(): void {
    this.total += this.#size;
    this.#state = this.#size === 0 ? enum_.TRAILER : enum_.DATA;
  }

  #nextChunk(): void {
    this.#size = 0;
    this.#digits = 0;
    this.#state = enum_.SIZE;
  }

  #fail(reason: string): number {
    this.error = reason;
    return -1;
  }
}
