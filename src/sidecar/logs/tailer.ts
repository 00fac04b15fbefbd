// The file source: finds capture files (CRI) and `logs.files` globs, identifies each by content
// fingerprint, and reads new lines from the checkpointed offset. Handles create-rotation (the old
// file is read to its end through the open descriptor), copytruncate (the copy carries the old
// fingerprint: reading resumes there at the stored offset), truncation (start over), late files and
// renames. Wakes on fs.watch (inotify) where it can, and polls otherwise.
import { closeSync, fstatSync, openSync, readdirSync, readSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { compressionOf, Decompressor, type Compression } from './compressed.js';
import { CriJoiner, parseCri } from './cri.js';
import type { Checkpoints } from './checkpoints.js';
import type { ReaderLocks } from './reader-lock.js';
import type { SharedCheckpoints } from './shared-checkpoints.js';
import { fingerprintOf } from './fingerprint.js';
import { expandGlob, globBase } from './glob.js';
import { BoundedLineSplitter, type SplitLine } from './line-splitter.js';
import { MultilineJoiner, type MultilineConfig } from './multiline.js';
import type { RawLine } from './raw-line.js';
import type { SourceMeta } from './enrich.js';

export interface TailerOptions {
  /** Directory of CRI capture files (`<process>.log`, `<process>.log.N`). */
  captureDir?: string;
  excludeProcesses: string[];
  /** Plain-text globs (stream "file") of this instance's own files. */
  files: string[];
  /**
   * Plain-text globs of files that belong to the service (every instance may see them): read by one
   * agent of the service at a time (the holder of the source's reader lock, when `locks` is given),
   * checkpointed in `sharedCheckpoints`.
   */
  sharedFiles?: string[];
  sharedCheckpoints?: SharedCheckpoints;
  locks?: ReaderLocks;
  cwd: string;
  maxLineBytes: number;
  multiline?: MultilineConfig;
  checkpoints: Checkpoints;
  /** Read chunk size (default 256 KiB). */
  chunkBytes?: number;
  /** Poll interval in ms when fs.watch is unavailable (default 250); with fs.watch, a safety rescan runs every 4 × this. */
  pollMs?: number;
  /** Force polling (no fs.watch). */
  noWatch?: boolean;
  /** Read gzip files (decompressed once into `decompressDir`); otherwise compressed files are skipped. */
  decompress?: boolean;
  /** Where decompressed copies are made (required with `decompress`). */
  decompressDir?: string;
  log?: (msg: string) => void;
}

/** A line ready for parsing, with what is needed to checkpoint it once acknowledged. */
export interface TailedLine {
  line: RawLine;
  source: SourceMeta;
  /** Offset that may be checkpointed once this line (and everything before it) is acknowledged. */
  commitOffset: number;
  path: string;
}

interface Candidate {
  path: string;
  kind: 'cri' | 'plain';
  process: string;
  ino: number;
  size: number;
  key: string;
  /** Rotation generation: 0 for the live file, N for name.N (read higher first). */
  generation: number;
  /** For a decompressed copy: the compressed file's name (what records say) and its identity. */
  label?: string;
  copyId?: string;
  /** Matched by a service-owned glob (see TailerOptions.sharedFiles). */
  shared: boolean;
}

class Source {
  fd: number | undefined;
  ino = -1;
  readOffset: number;
  splitter: BoundedLineSplitter;
  cri: CriJoiner;
  multiline = new Map<string, MultilineJoiner>();
  seenInScan = true;
  atEofSince: number | undefined;
  /** Name records carry when it differs from `path` (a decompressed copy: the compressed file). */
  label: string | undefined;

  constructor(
    readonly key: string,
    public path: string,
    readonly kind: 'cri' | 'plain',
    readonly process: string,
    public generation: number,
    offset: number,
    readonly maxLineBytes: number,
    readonly shared = false,
  ) {
    this.readOffset = offset;
    this.splitter = new BoundedLineSplitter(kind === 'cri' ? maxLineBytes + 64 : maxLineBytes, offset);
    this.cri = new CriJoiner(maxLineBytes);
  }

  private cachedMeta: SourceMeta | undefined;

  /** One object per path (not per line). */
  get meta(): SourceMeta {
    const m = this.cachedMeta;
    const file = this.label ?? this.path;
    if (m !== undefined && m.file === file) return m;
    return (this.cachedMeta = this.shared ? { key: this.key, file, process: this.process, shared: true } : { key: this.key, file, process: this.process });
  }

  /** Earliest file offset still held in a joiner (uncommittable yet). */
  pendingStart(): number | undefined {
    let min = this.cri.pendingStart;
    for (const m of this.multiline.values()) {
      const p = m.pendingStart;
      if (p !== undefined && (min === undefined || p < min)) min = p;
    }
    return min;
  }

  restartAt(offset: number): void {
    this.readOffset = offset;
    this.splitter.reset(offset);
    this.cri.reset();
    for (const m of this.multiline.values()) m.reset();
  }

  close(): void {
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch {
        // the descriptor is already closed: nothing to release
      }
    }
    this.fd = undefined;
  }
}

const CAPTURE_RE = /^(.+)\.log(?:\.(\d+))?$/;

export interface TailerStats {
  sources: number;
  truncatedLines: number;
  rotationsFollowed: number;
  truncationsSeen: number;
  /** Compressed files matched by a glob and not read (see compressed.ts). */
  compressedSkipped: number;
  watching: boolean;
}

/** Bytes of lines one read hands over at most (one batch's worth: the pipeline holds no more). */
export const READ_MAX_BYTES = 4 * 1024 * 1024;

export class Tailer {
  private readonly sources = new Map<string, Source>();
  private readonly chunkBytes: number;
  private readonly scratch = Buffer.allocUnsafe(256);
  private watchers: FSWatcher[] = [];
  private wake: (() => void) | undefined;
  private lastScan = 0;
  private changed = true;
  readonly stats: TailerStats = { sources: 0, truncatedLines: 0, rotationsFollowed: 0, truncationsSeen: 0, compressedSkipped: 0, watching: false };
  private readonly skipped = new Set<string>();
  private readonly decompressor: Decompressor | undefined;

  constructor(private readonly opts: TailerOptions) {
    this.chunkBytes = opts.chunkBytes ?? 256 * 1024;
    if (opts.decompress && opts.decompressDir) this.decompressor = new Decompressor(opts.decompressDir, () => this.poke(), opts.log ?? (() => {}));
    if (!opts.noWatch) this.startWatching();
  }

  private get pollMs(): number {
    return this.opts.pollMs ?? 250;
  }

  private startWatching(): void {
    const dirs = new Set<string>();
    if (this.opts.captureDir) dirs.add(this.opts.captureDir);
    for (const g of [...this.opts.files, ...(this.opts.sharedFiles ?? [])]) dirs.add(globBase(g, this.opts.cwd));
    for (const d of dirs) {
      try {
        const w = watch(d, { persistent: false }, () => this.poke());
        w.on('error', () => {
          this.stats.watching = false;
        });
        this.watchers.push(w);
      } catch {
        // No inotify instance left (or the directory does not exist yet): polling covers it.
      }
    }
    this.stats.watching = this.watchers.length > 0 && this.watchers.length === dirs.size;
  }

  /** True while a reader lock is being taken: a source may be about to start (draining waits for it). */
  get settling(): boolean {
    return this.opts.locks?.pending ?? false;
  }

  /** Scans again at the next read (a reader lock was taken). */
  rescan(): void {
    this.poke();
  }

  private poke(): void {
    this.changed = true;
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** Resolves on a file-system event or after the poll interval. */
  waitForData(): Promise<void> {
    const ms = this.stats.watching ? this.pollMs * 4 : this.pollMs;
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wake = undefined;
        this.changed = true;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  private discover(): Candidate[] {
    const out: Candidate[] = [];
    const add = (path: string, kind: 'cri' | 'plain', process: string, generation: number, shared = false, copyOf?: { label: string; id: string }): void => {
      let fd: number;
      let copy: { path: string; label: string; id: string } | undefined;
      try {
        fd = openSync(path, 'r');
      } catch {
        return;
      }
      try {
        const st = fstatSync(fd);
        if (!st.isFile() || st.size === 0) return;
        const compression = kind === 'plain' && !copyOf ? compressionOf(fd) : undefined;
        if (compression) {
          copy = this.compressed(path, compression, st.ino, st.size);
          return;
        }
        const key = fingerprintOf(fd, this.scratch);
        if (key) out.push({ path, kind, process, ino: st.ino, size: st.size, key, generation, shared, ...(copyOf ? { label: copyOf.label, copyId: copyOf.id } : {}) });
      } finally {
        closeSync(fd);
        if (copy) add(copy.path, kind, process, generation, shared, { label: copy.label, id: copy.id });
      }
    };
    const dir = this.opts.captureDir;
    if (dir) {
      let names: string[] = [];
      try {
        names = readdirSync(dir);
      } catch {
        // the directory does not exist (yet): no file matches, polled again later
      }
      for (const n of names) {
        const m = CAPTURE_RE.exec(n);
        if (!m || this.opts.excludeProcesses.includes(m[1])) continue;
        add(join(dir, n), 'cri', m[1], m[2] ? Number(m[2]) : 0);
      }
    }
    const seen = new Set<string>();
    const globs = [...this.opts.files.map((g) => ({ g, shared: false })), ...(this.opts.sharedFiles ?? []).map((g) => ({ g, shared: true }))];
    for (const { g, shared } of globs) {
      for (const p of expandGlob(g, this.opts.cwd)) {
        if (seen.has(p)) continue;
        seen.add(p);
        add(p, 'plain', 'app', 0, shared);
        // The usual rotated sibling: a copytruncate copy may live there even if the glob does not match it.
        const sib = `${p}.1`;
        if (!seen.has(sib)) {
          seen.add(sib);
          add(sib, 'plain', 'app', 1, shared);
        }
      }
    }
    return out;
  }

  /**
   * A compressed file matched by a glob: its decompressed copy when `decompress` is on and it is gzip
   * (once the copy is ready), else skipped (counted, and said once per file).
   */
  private compressed(path: string, compression: Compression, ino: number, size: number): { path: string; label: string; id: string } | undefined {
    if (this.decompressor && compression === 'gzip') {
      const id = Decompressor.id(path, ino, size);
      const copy = this.decompressor.copyOf(id, path);
      return copy ? { path: copy, label: path, id } : undefined;
    }
    if (!this.skipped.has(path)) {
      this.skipped.add(path);
      this.stats.compressedSkipped++;
      const why = compression === 'gzip' ? 'set logs.decompress: true to read gzip files' : `${compression} files are not decompressed`;
      this.opts.log?.(`skipping ${path}: ${compression}-compressed (${why})`);
    }
    return undefined;
  }

  /** Re-discovers files and reconciles sources with them (rotation, copytruncate, truncation, new files). */
  scan(): void {
    const now = Date.now();
    this.lastScan = now;
    this.changed = false;
    const cands = this.discover().filter((c) => {
      // A decompressed copy whose every line is acknowledged is done with: removed, not read again.
      if (c.copyId === undefined) return true;
      const cp = this.store(c.shared).get(c.key);
      if (cp && cp.offset >= c.size) {
        this.decompressor?.finish(c.copyId);
        return false;
      }
      return true;
    });
    const byKey = new Map<string, Candidate[]>();
    for (const c of cands) {
      const list = byKey.get(c.key);
      if (list) list.push(c);
      else byKey.set(c.key, [c]);
    }

    // Known sources: is the open file still the content we were reading?
    for (const [key, src] of this.sources) {
      const list = byKey.get(key) ?? [];
      src.seenInScan = list.length > 0;
      const st = src.fd !== undefined ? safeFstat(src.fd) : undefined;
      const fp = src.fd !== undefined ? fingerprintOf(src.fd, this.scratch) : undefined;
      if (st && fp === key && st.size >= src.readOffset) {
        const onCurrent = list.find((c) => c.ino === src.ino);
        if (onCurrent) {
          src.path = onCurrent.path;
          src.generation = onCurrent.generation;
          src.label = onCurrent.label;
        }
        continue;
      }
      // The open file shrank below our offset or now holds other content (copytruncate, truncation).
      // Another file with our fingerprint is the copy: read on there. It may end before our offset:
      // copytruncate loses what the app wrote between its copy and its truncate, and we may have read
      // some of that already; then the copy holds nothing new (continue at its end, never at 0).
      const others = list.filter((c) => c.ino !== src.ino);
      const copy = others.find((c) => c.size >= src.readOffset) ?? others.reduce<Candidate | undefined>((a, b) => (a === undefined || b.size > a.size ? b : a), undefined);
      if (copy) {
        src.close();
        if (this.openSource(src, copy.path)) {
          if (copy.size < src.readOffset) src.restartAt(copy.size);
          src.generation = copy.generation;
          src.label = copy.label;
          this.stats.rotationsFollowed++;
          continue;
        }
      }
      this.stats.truncationsSeen++;
      if (st && fp === key) {
        // Truncated in place and rewritten with the same first line: start over from the head.
        src.restartAt(0);
        this.store(src.shared).reset(key, 0, src.path);
        continue;
      }
      // Its content is gone: whatever the file holds now is a new source (found below by its own fingerprint).
      src.close();
      this.sources.delete(key);
      this.store(src.shared).reset(key, 0, src.path);
    }

    // New sources: from their checkpoint if we have one (and the file still holds that much), else their head.
    for (const [key, list] of byKey) {
      if (this.sources.has(key)) continue;
      const shared = list.some((x) => x.shared);
      if (shared && this.opts.locks) {
        // Another agent of the service may read it: only the holder of its reader lock does.
        if (!this.opts.locks.holds(key)) continue;
        this.opts.sharedCheckpoints?.reload(key);
      }
      const store = this.store(shared);
      // Before files belonged to the service their checkpoints were the instance's: use one of those
      // when the service has none yet (an upgraded agent resumes instead of re-reading from the head).
      const cp = store.get(key) ?? (shared ? this.opts.checkpoints.get(key) : undefined);
      const best = list.reduce((a, b) => (b.size > a.size ? b : a));
      let offset = cp?.offset ?? 0;
      if (cp && offset > best.size) {
        if (list.some((x) => x.path === cp.path)) {
          // The file we read is shorter than what we read of it: truncated in place and rewritten
          // (with the same first line). Start over.
          this.stats.truncationsSeen++;
          offset = 0;
          store.reset(key, 0, best.path);
        } else {
          // Only copies elsewhere (copytruncate) that end before our checkpoint: see the copy case above.
          offset = best.size;
        }
      }
      const c = list.find((x) => x.size >= offset) ?? best;
      const src = new Source(key, c.path, c.kind, c.process, c.generation, offset, this.opts.maxLineBytes, shared);
      src.label = c.label;
      if (this.openSource(src, c.path)) this.sources.set(key, src);
    }

    // Sources no longer under a matched path (renamed away, deleted): read to the end, then let go.
    for (const [key, s] of this.sources) {
      if (!s.seenInScan && s.atEofSince !== undefined && now - s.atEofSince > 2000) {
        s.close();
        this.sources.delete(key);
        if (s.shared && this.opts.locks) this.releaseShared(key);
      }
    }
    this.stats.sources = this.sources.size;
  }

  private store(shared: boolean): Checkpoints {
    return (shared ? this.opts.sharedCheckpoints : undefined) ?? this.opts.checkpoints;
  }

  /** A shared source is gone from every matched path: its checkpoint is written, then its lock let go. */
  private releaseShared(key: string): void {
    try {
      this.opts.sharedCheckpoints?.flush();
    } catch {
      // Keep the lock: no other agent must take the source over from an older checkpoint.
      return;
    }
    this.opts.locks?.release(key);
  }

  private openSource(src: Source, path: string): boolean {
    try {
      src.fd = openSync(path, 'r');
      const st = fstatSync(src.fd);
      src.ino = st.ino;
      src.path = path;
      return true;
    } catch {
      src.close();
      return false;
    }
  }

  /**
   * Reads up to about `maxLines` new lines (and about `maxBytes`) from all sources (oldest rotation generation first).
   * Scans for file changes first when due.
   */
  read(maxLines: number, out: TailedLine[] = [], maxBytes = READ_MAX_BYTES): TailedLine[] {
    const now = Date.now();
    if (this.changed || now - this.lastScan >= this.pollMs) this.scan();
    const ordered = [...this.sources.values()].sort((a, b) => b.generation - a.generation);
    const budget = { bytes: maxBytes };
    for (const s of ordered) {
      if (out.length >= maxLines || budget.bytes <= 0) break;
      this.readSource(s, maxLines, out, now, budget);
    }
    return out;
  }

  /** Emits multiline records that waited past their timeout (all of them with `force`). */
  flushIdle(out: TailedLine[], force = false): void {
    const now = force ? Infinity : Date.now();
    for (const s of this.sources.values()) {
      for (const m of s.multiline.values()) {
        const raw: RawLine[] = [];
        m.flushIfIdle(now, raw);
        for (const line of raw) out.push({ line, source: s.meta, commitOffset: Math.min(line.endOffset, s.pendingStart() ?? Infinity), path: s.path });
      }
    }
  }

  private readSource(s: Source, maxLines: number, out: TailedLine[], now: number, budget: { bytes: number }): void {
    if (s.fd === undefined) return;
    // The content under the descriptor may have been replaced (truncated and rewritten): never read a
    // stranger's bytes at our offset; the next scan sorts it out.
    if (fingerprintOf(s.fd, this.scratch) !== s.key) {
      this.changed = true;
      return;
    }
    const lines: SplitLine[] = [];
    while (out.length < maxLines && budget.bytes > 0) {
      let n: number;
      // A fresh chunk per read: lines are views into it (no per-line copy), so it is never reused.
      const chunk = Buffer.allocUnsafeSlow(this.chunkBytes);
      try {
        n = readSync(s.fd, chunk, 0, chunk.length, s.readOffset);
      } catch {
        return;
      }
      if (n === 0) {
        if (s.atEofSince === undefined) s.atEofSince = now;
        return;
      }
      s.atEofSince = undefined;
      lines.length = 0;
      s.splitter.push(chunk.subarray(0, n), s.readOffset, lines);
      s.readOffset += n;
      budget.bytes -= n;
      for (const l of lines) this.emitLine(s, l, now, out);
    }
  }

  private emitLine(s: Source, l: SplitLine, now: number, out: TailedLine[]): void {
    let raw: RawLine;
    if (s.kind === 'cri') {
      const parsed = parseCri(l.bytes);
      if (!parsed) {
        // Not CRI (a corrupt or foreign line): keep it as plain text rather than lose it.
        raw = { bytes: l.bytes, droppedBytes: l.droppedBytes, stream: 'stdout', startOffset: l.startOffset, endOffset: l.endOffset };
      } else {
        const joined = s.cri.push(parsed, l.startOffset, l.droppedBytes);
        if (!joined) return;
        raw = { bytes: joined.bytes, droppedBytes: joined.droppedBytes, stream: joined.stream, time: joined.time, startOffset: l.startOffset, endOffset: l.endOffset };
      }
    } else {
      raw = { bytes: l.bytes, droppedBytes: l.droppedBytes, stream: 'file', startOffset: l.startOffset, endOffset: l.endOffset };
    }
    if (raw.droppedBytes > 0) this.stats.truncatedLines++;
    const ready: RawLine[] = [];
    if (this.opts.multiline) {
      let m = s.multiline.get(raw.stream);
      if (!m) {
        m = new MultilineJoiner(this.opts.multiline, this.opts.maxLineBytes);
        s.multiline.set(raw.stream, m);
      }
      m.push(raw, now, ready);
    } else ready.push(raw);
    const pending = s.pendingStart();
    for (const line of ready) {
      out.push({ line, source: s.meta, commitOffset: pending !== undefined ? Math.min(pending, line.endOffset) : line.endOffset, path: s.path });
    }
  }

  /** Source names and read offsets (for status and tests). */
  describe(): { key: string; path: string; offset: number }[] {
    return [...this.sources.values()].map((s) => ({ key: s.key, path: s.path, offset: s.readOffset }));
  }

  close(): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
    for (const s of this.sources.values()) s.close();
    this.sources.clear();
    this.decompressor?.close();
    this.opts.locks?.close();
    this.poke();
  }
}

function safeFstat(fd: number): { size: number; ino: number } | undefined {
  try {
    const st = fstatSync(fd);
    return { size: st.size, ino: st.ino };
  } catch {
    return undefined;
  }
}

