// Machine-wide allocation of address blocks: each Berth application on this machine gets its own
// slot S, and its instances live at 127.<node>.<S>.<i>. Claims are files in a per-user registry
// folder naming the owner's state dir; a claim whose owner no longer holds the same slot is stale.
import { mkdirSync, openSync, closeSync, writeSync, readFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from './files.js';

const MAX_SLOT = 250;

export function slotRegistryDir(): string {
  return process.env.BERTH_SLOT_REGISTRY ?? join(tmpdir(), `berth-slots-${process.getuid?.() ?? 0}`);
}

function ownerHolds(owner: string, slot: number): boolean {
  try {
    return Number(readFileSync(join(owner, 'slot'), 'utf8').trim()) === slot;
  } catch {
    return false;
  }
}

/** The app's slot: the one recorded in `<stateDir>/slot` if still ours, else the lowest free one. */
export function claimAppSlot(stateDir: string): number {
  const owner = resolve(stateDir);
  const registry = slotRegistryDir();
  mkdirSync(registry, { recursive: true });
  const recorded = (() => {
    try {
      return Number(readFileSync(join(owner, 'slot'), 'utf8').trim());
    } catch {
      return NaN;
    }
  })();
  if (Number.isInteger(recorded) && recorded >= 1) {
    try {
      if (readFileSync(join(registry, String(recorded)), 'utf8').trim() === owner) return recorded;
    } catch {
      // no registry claim for the recorded slot: a free one is searched below
    }
  }
  for (let slot = 1; slot <= MAX_SLOT; slot++) {
    const claim = join(registry, String(slot));
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(claim, 'wx');
        writeSync(fd, owner + '\n');
        closeSync(fd);
        writeFileAtomic(join(owner, 'slot'), String(slot) + '\n');
        return slot;
      } catch {
        let holder = '';
        try {
          holder = readFileSync(claim, 'utf8').trim();
        } catch {
          // the claim vanished meanwhile (its owner released it): the loop tries again
        }
        if (holder === owner) {
          writeFileAtomic(join(owner, 'slot'), String(slot) + '\n');
          return slot;
        }
        if (holder && ownerHolds(holder, slot)) break;
        try {
          unlinkSync(claim); // stale: its owner is gone or moved on
        } catch {
          // another claimer removed the stale claim first: the loop tries again
        }
      }
    }
  }
  throw new Error(`no free address block: ${MAX_SLOT} Berth applications already hold one (see ${registry})`);
}

/** Releases the app's slot claim (on `berth down`). */
export function releaseAppSlot(stateDir: string): void {
  const owner = resolve(stateDir);
  try {
    const slot = Number(readFileSync(join(owner, 'slot'), 'utf8').trim());
    const claim = join(slotRegistryDir(), String(slot));
    if (readFileSync(claim, 'utf8').trim() === owner) unlinkSync(claim);
  } catch {
    // nothing recorded or already released: releasing is idempotent
  }
}
