import { readFile } from 'node:fs/promises';
import { text as streamText } from 'node:stream/consumers';

/**
 * The text of a command's input file, or of stdin for "-". A leading byte-order mark is dropped:
 * PowerShell's redirection and some editors write one, and JSON.parse refuses it.
 */
export async function readInput(file: string): Promise<string> {
  const text = file === '-' ? await streamText(process.stdin) : await readFile(file, 'utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}
