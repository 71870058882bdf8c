import { readdirSync, readFileSync } from 'node:fs';

// Linux's /proc, at USER_HZ = 100 ticks a second (what the kernel reports on every architecture
// this runs on). Per thread, because a process's total hides what a figure needs to say: how much
// of it is the main thread, how much the worker threads, how much V8's own helpers (parallel and
// concurrent garbage collection, compilation) and libuv's.

/** User + system CPU seconds from a /proc stat file (a process's or a thread's). */
export function statCpuSeconds(path: string): number {
  const stat = readFileSync(path, 'utf8');
  // Fields after the command name (which may hold spaces) start at state, field 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU seconds of every thread of a process, by thread id (a thread that ended is not in it). */
export function threadCpuSeconds(pid: number = process.pid): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      out.set(Number(tid), statCpuSeconds(`/proc/${pid}/task/${tid}/stat`));
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
}

/** CPU seconds each thread used between two readings (threads new since the first count from zero). */
export function threadCpuSince(before: ReadonlyMap<number, number>, after: ReadonlyMap<number, number>): Map<number, number> {
  return new Map([...after].map(([tid, seconds]) => [tid, seconds - (before.get(tid) ?? 0)]));
}
