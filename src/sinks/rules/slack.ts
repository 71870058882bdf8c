// A Slack incoming-webhook message for one alert: a one-line summary (what Slack shows in
// notifications), and an attachment coloured by priority with the message, cluster and auditID.
import { alertMessage, type Alert } from '../../rules/alert.js';
import { parsePriority, type Priority } from '../../rules/priority.js';

export const SLACK_COLORS: Record<Priority, string> = {
  emergency: '#b71c1c',
  alert: '#c62828',
  critical: '#d50000',
  error: '#ff6d00',
  warning: '#ffc400',
  notice: '#2979ff',
  informational: '#00b8d4',
  debug: '#9e9e9e',
};

/** Slack's limit on attachment text is far above what stays readable in a channel. */
const MAX_MESSAGE = 1500;

export interface SlackOptions {
  channel?: string | undefined;
  username?: string | undefined;
}

export function slackPayload(alert: Alert, options: SlackOptions = {}): Record<string, unknown> {
  const priority = parsePriority(alert.priority) ?? 'informational';
  const message = truncate(alertMessage(alert), MAX_MESSAGE);
  const fields = [
    ...(alert.cluster !== null ? [{ title: 'cluster', value: escape(alert.cluster), short: true }] : []),
    ...(alert.auditID !== null ? [{ title: 'auditID', value: escape(alert.auditID), short: true }] : []),
  ];
  return {
    ...(options.channel !== undefined ? { channel: options.channel } : {}),
    ...(options.username !== undefined ? { username: options.username } : {}),
    text: `*${alert.priority}* ${escape(alert.rule)}`,
    attachments: [
      {
        color: SLACK_COLORS[priority],
        fallback: escape(`${alert.priority}: ${alert.rule}: ${message}`),
        text: escape(message),
        fields,
        footer: 'kube-audit-bridge',
        ts: Math.floor(Date.parse(alert.time) / 1000),
      },
    ],
  };
}

// Slack reads &, < and > as markup (links, mentions); a message's "<NA>" must stay text.
function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
