/** Options of `kube-audit-bridge emulator <name>`: the common ones, and each emulator's own flags by their long names. */
export interface EmulatorCliOptions {
  port: number;
  /** Provider records, in the shapes `convert` reads. */
  data: string;
  /** Faults to inject, emulator-specific: e.g. "throttle-every=5,slow-page-ms=200". */
  faults?: string;
  /** The emulator's own options (camel-cased flag names), as given: read them with stringOption. */
  [option: string]: unknown;
}

/** An emulator's own option as text, or undefined when not given. */
export function stringOption(options: EmulatorCliOptions, name: string): string | undefined {
  const value = options[name];
  return typeof value === 'string' ? value : undefined;
}

export interface EmulatorModule {
  /**
   * Serves the API on 127.0.0.1 until the signal aborts. Prints one JSON line on stdout when ready,
   * with at least {"endpoint": ...}. Throws for what the user must fix (bad data, faults, options).
   */
  runFromCli(options: EmulatorCliOptions, signal: AbortSignal): Promise<void>;
}

/** An emulator as a component declares it for the CLI. */
export interface EmulatorComponent {
  /** `emulator <name>`. */
  readonly name: string;
  readonly summary: string;
  /** Its own flags beyond --port, --data and --faults, e.g. { flags: '--cluster <name>', description: ... }. */
  readonly options?: readonly { flags: string; description: string }[];
  load(): Promise<EmulatorModule>;
}
