/** Options of `kube-audit-bridge emulator <provider>` (DESIGN §9). */
export interface EmulatorCliOptions {
  port: number;
  /** Provider records in the shapes `convert` reads. */
  data: string;
  /** Faults to inject, provider-specific: e.g. "throttle-every=5,slow-page-ms=200". */
  faults?: string;
  /** eks: the log group is /aws/eks/<cluster>/cluster unless logGroup is given. */
  cluster?: string;
  logGroup?: string;
  /** aks: AKSAudit, AKSAuditAdmin or AzureDiagnostics. */
  table?: string;
}

export interface EmulatorModule {
  /**
   * Serves the provider API on 127.0.0.1 until the signal aborts. Prints one JSON line on stdout
   * when ready: {"endpoint": ...} (aks also "caFile" and "authorityHost").
   */
  runFromCli(options: EmulatorCliOptions, signal: AbortSignal): Promise<void>;
}

export type EmulatorProvider = 'gke' | 'eks' | 'aks';

/** Each provider registers its emulator here (a lazy import). */
export const emulators: Partial<Record<EmulatorProvider, () => Promise<EmulatorModule>>> = {};
emulators.gke = async () => (await import('../sources/gke/emulator/index.js')).gkeEmulatorModule;
emulators.eks = async () => (await import('../sources/eks/emulator/index.js')).eksEmulatorModule;
emulators.aks = async () => (await import('../sources/aks/emulator/index.js')).aksEmulatorModule;
