import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's CPU times (USER_HZ on Linux). */
const TICK = 100;

/** CPU seconds (user + system) a process has used so far, from /proc; 0 once it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / TICK; // utime + stime (fields 14, 15)
  } catch {
    return 0;
  }
}
