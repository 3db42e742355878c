/**
 * Lock files that name their owner by more than a pid. Created whole (written aside, then
 * hard-linked into place, which fails when the lock exists), so a lock file is never seen
 * half-written; broken only when its owner is gone, and then by moving exactly the file that
 * was judged stale out of the way, so that a lock taken in the meantime survives.
 */
import { randomUUID } from "node:crypto";
import { link, open, readFile, rename, stat, unlink, writeFile } from "node:fs/promises";

import { z } from "zod";

import { type ProcessRecord, isRecordedAlive, processIdentity, processIdentitySchema } from "./process-identity.mjs";

/** What a lock file holds. */
export const lockOwnerSchema = z.object({
  pid: z.number().int().positive(),
  identity: processIdentitySchema.nullable(),
  /** When the lock was taken. */
  since: z.iso.datetime({ offset: true }),
});
/** The owner a lock file names. */
export type LockOwner = z.infer<typeof lockOwnerSchema>;

/** A lock someone holds, as read. */
export interface LockHolder {
  /** The file's text: a lock is broken only while it still holds this text. */
  text: string;
  /** Its owner; undefined when the text names none (damaged). */
  owner?: LockOwner;
  /** When the lock file was written, ms since the epoch. */
  writtenAtMs: number;
}

/**
 * The owner a lock file's text names. A bare pid is a lock of an older drone: its owner has
 * no identity, and the file's time is when it was taken.
 */
export function parseLockText(text: string, writtenAtMs: number): LockOwner | undefined {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) {
    const pid = Number(trimmed);
    return pid > 0 ? { pid, identity: null, since: new Date(writtenAtMs).toISOString() } : undefined;
  }
  let json: unknown;
  try {
    json = JSON.parse(trimmed);
  } catch {
    return undefined;
  }
  const parsed = lockOwnerSchema.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}

/** The process a lock owner names, to ask whether it still runs. */
export function ownerRecord(owner: LockOwner): ProcessRecord {
  const since = Date.parse(owner.since);
  return { pid: owner.pid, identity: owner.identity, legacy: { recordedAtMs: since, startedByMs: since } };
}

/** Whether a lock's owner is alive and still the process that took it. */
export function ownerAlive(holder: LockHolder): boolean {
  return holder.owner !== undefined && isRecordedAlive(ownerRecord(holder.owner));
}

/** The text of a lock taken by this process now. */
function ownText(): string {
  const owner: LockOwner = { pid: process.pid, identity: processIdentity(), since: new Date().toISOString() };
  return `${JSON.stringify(owner)}\n`;
}

const notFound = (error: unknown) => (error as NodeJS.ErrnoException).code === "ENOENT";

/** Create the lock file holding `text`; false when it exists. */
async function create(path: string, text: string): Promise<boolean> {
  const temp = `${path}.${process.pid}.${randomUUID()}.tmp`;
  await writeFile(temp, text, { mode: 0o600 });
  try {
    await link(temp, path);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return false;
    // a file system without hard links: create the file exclusively and write it
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP") throw error;
    try {
      const handle = await open(path, "wx", 0o600);
      await handle.writeFile(text);
      await handle.close();
      return true;
    } catch (fallback) {
      if ((fallback as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw fallback;
    }
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

/** Read a held lock; undefined when it vanished meanwhile. */
export async function readHolder(path: string): Promise<LockHolder | undefined> {
  try {
    const [text, info] = await Promise.all([readFile(path, "utf8"), stat(path)]);
    return { text, owner: parseLockText(text, info.mtimeMs), writtenAtMs: info.mtimeMs };
  } catch (error) {
    if (notFound(error)) return undefined;
    throw error;
  }
}

/** A held lock: release it (only while it is still ours). */
export interface HeldLock {
  release(): Promise<void>;
}

/** Take the lock once, or say who holds it. */
export async function tryLock(path: string): Promise<HeldLock | { holder: LockHolder }> {
  const text = ownText();
  // the holder may let go between our attempt and our look at it: try again then
  for (let attempt = 0; attempt < 5; attempt++) {
    if (await create(path, text)) {
      return {
        release: async () => {
          const now = await readFile(path, "utf8").catch(() => undefined);
          // a lock broken and taken by someone else is theirs now
          if (now === text) await unlink(path).catch(() => undefined);
        },
      };
    }
    const holder = await readHolder(path);
    if (holder) return { holder };
  }
  throw new Error(`cannot take the lock ${path}: it keeps appearing and vanishing`);
}

/**
 * Remove a lock judged stale. The file is moved aside first and removed only when it is the
 * one that was judged; a lock taken meanwhile by someone else is put back.
 */
export async function breakLock(path: string, holder: LockHolder): Promise<void> {
  const aside = `${path}.${process.pid}.${randomUUID()}.stale`;
  try {
    await rename(path, aside);
  } catch (error) {
    if (notFound(error)) return;
    throw error;
  }
  const text = await readFile(aside, "utf8").catch(() => undefined);
  if (text !== holder.text) await link(aside, path).catch(() => undefined);
  await unlink(aside).catch(() => undefined);
}
