import { goJSON } from '../event/encode.js';
import { toNativeEvent } from '../event/parse.js';
import { applyPolicy, loadPolicyFile } from '../process/policy.js';
import { scrubEvent } from '../process/scrub.js';
import { parseJsonOrLines } from '../util/json-input.js';
import { eventsOf } from './rules.js';
import { readInput } from './input.js';

const SCRUB_SECRETS = { secrets: true, paths: [] };

/**
 * policy apply --policy FILE [EVENTS|-]: applies an audit Policy to events (JSON array, JSON lines
 * or an EventList) and prints the survivors, bodies stripped to their level, as JSON lines. Exit 0
 * once applied; 2 when the policy is invalid (every problem listed) or the events cannot be read.
 */
export async function policyApplyCommand(eventsFile: string, options: { policy: string; scrub?: boolean }): Promise<number> {
  const loaded = loadPolicyFile(options.policy);
  for (const warning of loaded.warnings) process.stderr.write(`${options.policy}: warning: ${warning}\n`);
  if (!loaded.policy) {
    const n = loaded.problems.length;
    process.stderr.write(`${options.policy}: ${n} problem${n === 1 ? '' : 's'}:\n${loaded.problems.map((p) => `  ${p}\n`).join('')}`);
    return 2;
  }
  const policy = loaded.policy;

  let text: string;
  try {
    text = await readInput(eventsFile);
  } catch (err) {
    process.stderr.write(`policy apply: cannot read ${eventsFile === '-' ? 'stdin' : eventsFile}: ${(err as Error).message}\n`);
    return 2;
  }
  const { values, unreadable } = parseJsonOrLines(text);
  if (values.length === 0 && unreadable.length > 0) {
    process.stderr.write('policy apply: unreadable input: neither JSON nor JSON lines\n');
    return 2;
  }
  for (const line of unreadable) process.stderr.write(`${line.ref}: skipped: ${line.reason}\n`);

  const counts = { events: 0, kept: 0, level: 0, stage: 0, skipped: 0 };
  const out: string[] = [];
  for (const { value, ref } of values) {
    for (const { event, at } of eventsOf(value, ref)) {
      // v1beta1 events (apiservers before 1.24) are brought to v1, EventList items made top-level.
      const parsed = toNativeEvent(event);
      if (!parsed.ok) {
        counts.skipped++;
        process.stderr.write(`${at}: skipped: not an audit event: ${parsed.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}\n`);
        continue;
      }
      counts.events++;
      const outcome = applyPolicy(policy, parsed.event);
      if (outcome.kind === 'dropped') counts[outcome.reason]++;
      else {
        counts.kept++;
        // stdout is an output like a sink's: Secret values are redacted unless --no-scrub.
        out.push(`${goJSON(options.scrub === false ? outcome.event : scrubEvent(outcome.event, SCRUB_SECRETS))}\n`);
        if (out.length >= 1000) process.stdout.write(out.splice(0).join(''));
      }
    }
  }
  process.stdout.write(out.join(''));
  const dropped = counts.level + counts.stage;
  process.stderr.write(
    `${counts.events} event${counts.events === 1 ? '' : 's'}: ${counts.kept} kept, ${dropped} dropped (${counts.level} at level None, ${counts.stage} in an omitted stage)` +
      `${counts.skipped > 0 ? `, ${counts.skipped} skipped` : ''}\n`,
  );
  return 0;
}
