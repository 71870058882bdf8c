// Falco's eight priorities, most severe first. Rule files write them in any case (WARNING,
// Warning), with INFO as an alias of INFORMATIONAL; alerts carry Falco's capitalised form.

export const PRIORITIES = ['emergency', 'alert', 'critical', 'error', 'warning', 'notice', 'informational', 'debug'] as const;
export type Priority = (typeof PRIORITIES)[number];

export const PRIORITY_HINT = 'one of emergency, alert, critical, error, warning, notice, informational (or info), debug';

export function parsePriority(text: string): Priority | undefined {
  const lower = text.trim().toLowerCase();
  if (lower === 'info') return 'informational';
  return (PRIORITIES as readonly string[]).includes(lower) ? (lower as Priority) : undefined;
}

/** 0 for emergency … 7 for debug: lower is more severe. */
export function severity(priority: Priority): number {
  return PRIORITIES.indexOf(priority);
}

/** At least as severe as `minimum`. */
export function atLeast(priority: Priority, minimum: Priority): boolean {
  return severity(priority) <= severity(minimum);
}

/** As Falco writes it in alerts: Emergency, Alert, …, Informational, Debug. */
export function priorityLabel(priority: Priority): string {
  return priority[0]!.toUpperCase() + priority.slice(1);
}
