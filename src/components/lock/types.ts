export enum UnlockStatus {
  SUCCESS = 0,
  LOCK_DOES_NOT_EXIST = 1,
  LOCK_BELONGS_TO_OTHERS = 2,
  INTERNAL_ERROR = 3,
}

export interface TryLockRequest {
  resourceId: string;
  lockOwner: string;
  expiryInSeconds: number;
}

export interface LockStore {
  readonly name: string;
  readonly type: string;
  features(): string[];
  /** success=false when someone else holds it. Throws LockRequestError on a malformed request. */
  tryLock(request: TryLockRequest): Promise<{ success: boolean }>;
  unlock(request: { resourceId: string; lockOwner: string }): Promise<{ status: UnlockStatus }>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export class LockRequestError extends Error {
  readonly code = 'ERR_MALFORMED_REQUEST';
  constructor(message: string) {
    super(message);
    this.name = 'LockRequestError';
  }
}

export function validateLockRequest(r: { resourceId?: unknown; lockOwner?: unknown; expiryInSeconds?: unknown }, needsExpiry: boolean): void {
  if (typeof r.resourceId !== 'string' || r.resourceId === '') throw new LockRequestError('resourceId is empty in lock request');
  if (typeof r.lockOwner !== 'string' || r.lockOwner === '') throw new LockRequestError('lockOwner is empty in lock request');
  if (needsExpiry && (typeof r.expiryInSeconds !== 'number' || !Number.isInteger(r.expiryInSeconds) || r.expiryInSeconds <= 0)) {
    throw new LockRequestError('expiryInSeconds must be a positive integer in lock request');
  }
}
