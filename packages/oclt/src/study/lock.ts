/**
 * Unit locks: one process works on a study unit at a time, whichever runner started it (two `oclt study run` in
 * one folder, a job array on a shared file system). A lock is a file created with O_EXCL (atomic on local and NFSv3+
 * file systems) holding the owner's host and pid. A lock whose owner is a dead process on this host is stale and
 * is taken over; a lock from another host is respected until removed by hand (we cannot see its processes).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface LockOwner {
  host: string;
  pid: number;
  started: string;
}

export interface UnitLock {
  file: string;
  release(): void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The lock's owner, or null when the file is missing or unreadable (a writer between create and write). */
export function lockOwner(file: string): LockOwner | null {
  try {
    const o = JSON.parse(fs.readFileSync(file, 'utf8')) as LockOwner;
    return typeof o.pid === 'number' && typeof o.host === 'string' ? o : null;
  } catch {
    return null;
  }
}

/** Whether a lock file is held by a live process (or by another host, which we cannot check). */
export function isLockHeld(file: string): boolean {
  if (!fs.existsSync(file)) return false;
  const o = lockOwner(file);
  if (!o) return true; // being written: held
  return o.host !== os.hostname() || alive(o.pid);
}

/** Takes the lock, or returns null when a live owner holds it. A stale lock (dead owner on this host) is replaced. */
export function tryLock(file: string): UnitLock | null {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const me: LockOwner = { host: os.hostname(), pid: process.pid, started: new Date().toISOString() };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx');
      fs.writeSync(fd, JSON.stringify(me));
      fs.closeSync(fd);
      let released = false;
      return {
        file,
        release() {
          if (released) return;
          released = true;
          const o = lockOwner(file);
          if (o && o.pid === me.pid && o.host === me.host) fs.rmSync(file, { force: true });
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      if (isLockHeld(file)) return null;
      // Stale: the owner died. Remove it (via a rename, so two takers cannot both remove a fresh lock) and retry.
      const stale = `${file}.stale-${process.pid}`;
      try {
        fs.renameSync(file, stale);
      } catch {
        return null;
      }
      // Another taker may have replaced the stale lock between our check and the rename: give a live one back.
      if (isLockHeld(stale)) {
        try {
          fs.renameSync(stale, file);
        } catch {
          /* it is gone: nothing to give back */
        }
        return null;
      }
      fs.rmSync(stale, { force: true });
    }
  }
  return null;
}
