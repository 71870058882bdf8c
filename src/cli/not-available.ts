/** For commands later versions add: say so plainly and exit 2, never pretend to work. */
export async function notAvailable(command: string): Promise<number> {
  process.stderr.write(`kube-audit-bridge ${command}: not available yet in this version\n`);
  return 2;
}
