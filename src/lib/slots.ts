// Machine-wide allocation of address blocks: each Berth application on this machine gets its own
// slot S, and its instances live at 127.<node>.<S>.<i>. Claims are files in a per-user registry
// folder naming the owner's state dir; a claim whose owner no longer holds the same slot is stale.
// Claiming runs under a machine-wide lock (see process-lock.ts): without it two claimers could both
// judge a claim stale, one replace it, and the other delete the fresh claim and take the same slot.
import { mkdirSync, openSync, closeSync, writeSync, readFileSync, readdirSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from './files.js';
import { lockName, waitProcessLock } from './process-lock.js';

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
export async function claimAppSlot(stateDir: string): Promise<number> {
  const registry = slotRegistryDir();
  mkdirSync(registry, { recursive: true, mode: 0o700 });
  const lock = await waitProcessLock(lockName('slots', registry), 10_000, `the address block registry lock (${registry})`);
  try {
    return claimLocked(resolve(stateDir), registry);
  } finally {
    lock.close();
  }
}

function claimLocked(owner: string, registry: string): number {
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
      // no claim file for the recorded slot (or unreadable): claim afresh below
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
          // vanished since the failed create: the next attempt creates it
        }
        if (holder === owner) {
          writeFileAtomic(join(owner, 'slot'), String(slot) + '\n');
          return slot;
        }
        if (holder && ownerHolds(holder, slot)) break;
        try {
          unlinkSync(claim); // stale: its owner is gone or moved on
        } catch {
          // already gone: the next attempt creates it
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
    // no slot recorded or no claim left: nothing to release
  }
}

/**
 * The state dirs of the Berth applications on this machine: every owner that still holds its claim
 * (a claim is released by `berth down`; one whose owner moved on is stale and skipped). Read-only, no lock.
 */
export function slotOwners(): string[] {
  const registry = slotRegistryDir();
  let names: string[];
  try {
    names = readdirSync(registry);
  } catch {
    return []; // no registry yet: no app was ever started by this user
  }
  const owners: string[] = [];
  for (const name of names) {
    const slot = Number(name);
    if (!Number.isInteger(slot) || slot < 1) continue;
    let owner = '';
    try {
      owner = readFileSync(join(registry, name), 'utf8').trim();
    } catch {
      continue; // released while we listed
    }
    if (owner && ownerHolds(owner, slot) && !owners.includes(owner)) owners.push(owner);
  }
  return owners;
}
