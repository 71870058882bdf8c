// The AMQP 1.0 side of the Event Hubs emulator: what @azure/event-hubs (v6, through rhea-promise)
// does on a connection, answered the way the service answers it. SASL ANONYMOUS (the SDK's rhea
// connection has a user name and no password), claims-based security on $cbs, READ requests on
// $management, receivers on <hub>/ConsumerGroups/<cg>/Partitions/<id> positioned by the selector
// filter, owner levels (epochs), credit-based flow, and senders for EventHubProducerClient.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import rhea from 'rhea';
import type { Connection, EventContext, Message, Receiver, Sender, Session } from 'rhea';
import { everyNth, type EventHubsFaults } from './faults.js';
import { Hub, PositionError, startIndex, type Partition, type StoredEvent } from './hub.js';
import { checkSasToken, scopeCovers } from './sas.js';

const EPOCH = 'com.microsoft:epoch';
const RUNTIME_METRIC = 'com.microsoft:enable-receiver-runtime-metric';
const SELECTOR = 'apache.org:selector-filter:string';
/** The message format of EventHubProducerClient's batches: a data section per encoded event. */
const BATCH_FORMAT = 0x80013700;
const MAX_MESSAGE_SIZE = 1024 * 1024;
/** The service allows five receivers without an owner level per partition and consumer group. */
const MAX_RECEIVERS = 5;

const CONDITION = {
  unauthorized: 'amqp:unauthorized-access',
  notFound: 'amqp:not-found',
  stolen: 'amqp:link:stolen',
  detachForced: 'amqp:link:detach-forced',
  connectionForced: 'amqp:connection:forced',
  limit: 'amqp:resource-limit-exceeded',
  notImplemented: 'amqp:not-implemented',
} as const;

export interface ServerOptions {
  hub: Hub;
  consumerGroups: readonly string[];
  keys: ReadonlyMap<string, string>;
  faults: EventHubsFaults;
  now: () => number;
}

interface Claim {
  scope: string;
  expiresAtMs: number;
}

interface ConnState {
  id: number;
  connection: Connection;
  socket: Socket;
  claims: Claim[];
  timer?: NodeJS.Timeout;
  /** Reply links of $cbs and $management, by link name (the SDK's reply_to is its receiver's name). */
  replyLinks: Map<string, Sender>;
  /** Replies waiting for credit on their link. */
  pendingReplies: Map<Sender, Message[]>;
  closed: boolean;
}

interface Subscription {
  conn: ConnState;
  link: Sender;
  session: Session;
  partition: Partition;
  consumerGroup: string;
  ownerLevel?: number;
  name: string;
  /** Index in the partition of the next event to send. */
  cursor: number;
  /** An event to send again before moving on (duplicate-every). */
  duplicate?: StoredEvent;
  /** link.send calls; rhea counts a transfer against credit only when it writes the frame. */
  sent: number;
  notBefore: number;
  slowTimer?: NodeJS.Timeout;
  lifeTimer?: NodeJS.Timeout;
  trackLastEnqueued: boolean;
  closed: boolean;
}

export interface ReceiverInfo {
  consumerGroup: string;
  partitionId: string;
  ownerLevel?: number;
  name: string;
  connection: number;
}

export interface ServerCounters {
  deliveries: number;
  duplicates: number;
  detached: number;
  disconnected: number;
  resets: number;
  connectionsOpened: number;
  tokensAccepted: number;
  tokensRefused: number;
  managementRequests: number;
  receiversOpened: number;
  receiversRefused: number;
  receiversStolen: number;
  deliveredByPartition: Record<string, number>;
}

interface RheaLinkInternals {
  credit: number;
  delivery_count: number;
  local: { attach: { snd_settle_mode?: number; max_message_size?: number } };
}

interface SectionLike {
  typecode: number;
  content: unknown;
  multiple?: boolean;
}

function isSection(value: unknown): value is SectionLike {
  return typeof value === 'object' && value !== null && typeof (value as SectionLike).typecode === 'number' && 'content' in value;
}

function addressOf(terminus: unknown): string | undefined {
  if (typeof terminus === 'string') return terminus;
  if (typeof terminus === 'object' && terminus !== null && typeof (terminus as { address?: unknown }).address === 'string') {
    return (terminus as { address: string }).address;
  }
  return undefined;
}

/** The selector filter's text, whether rhea decoded the described value or left its value bare. */
function selectorOf(filter: unknown): string | undefined {
  if (typeof filter !== 'object' || filter === null) return undefined;
  const entry = (filter as Record<string, unknown>)[SELECTOR];
  if (typeof entry === 'string') return entry;
  if (typeof entry === 'object' && entry !== null) {
    const value = (entry as { value?: unknown }).value;
    if (typeof value === 'string') return value;
    if (typeof value === 'object' && value !== null && typeof (value as { value?: unknown }).value === 'string') {
      return (value as { value: string }).value;
    }
  }
  return undefined;
}

function capabilities(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String);
  return typeof value === 'string' ? [value] : [];
}

export class EventHubsServer {
  readonly counters: ServerCounters = {
    deliveries: 0,
    duplicates: 0,
    detached: 0,
    disconnected: 0,
    resets: 0,
    connectionsOpened: 0,
    tokensAccepted: 0,
    tokensRefused: 0,
    managementRequests: 0,
    receiversOpened: 0,
    receiversRefused: 0,
    receiversStolen: 0,
    deliveredByPartition: {},
  };
  private readonly container = rhea.create_container({ id: 'kube-audit-bridge-eventhubs-emulator' });
  private readonly server: Server;
  private readonly conns = new Map<Connection, ConnState>();
  private readonly subscriptions = new Set<Subscription>();
  private nextConnId = 0;
  private closing = false;
  private readonly unsubscribe: () => void;

  constructor(private readonly options: ServerOptions) {
    (this.container.sasl_server_mechanisms as { enable_anonymous(): void }).enable_anonymous();
    this.server = createServer((socket) => this.accept(socket));
    this.wire();
    this.unsubscribe = options.hub.onAppend((partitionId) => {
      for (const sub of this.subscriptions) if (sub.partition.id === partitionId) this.pump(sub);
    });
  }

  async listen(port: number, host: string): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  get address(): AddressInfo {
    return this.server.address() as AddressInfo;
  }

  get connectionCount(): number {
    return [...this.conns.values()].filter((c) => !c.closed).length;
  }

  receivers(): ReceiverInfo[] {
    return [...this.subscriptions].map((s) => ({
      consumerGroup: s.consumerGroup,
      partitionId: s.partition.id,
      ...(s.ownerLevel !== undefined ? { ownerLevel: s.ownerLevel } : {}),
      name: s.name,
      connection: s.conn.id,
    }));
  }

  /** Closes every connection (an AMQP close, then the socket) and stops listening. */
  async close(): Promise<void> {
    this.closing = true;
    this.unsubscribe();
    for (const sub of [...this.subscriptions]) this.drop(sub);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const conn of this.conns.values()) {
      if (conn.timer) clearTimeout(conn.timer);
      try {
        if (!conn.closed) conn.connection.close();
      } catch {
        // the socket may be gone already
      }
      const socket = conn.socket;
      setTimeout(() => socket.destroy(), 50).unref();
    }
    await closed;
  }

  /** Destroys every TCP connection without an AMQP close, as a network failure would. */
  resetConnections(): void {
    for (const conn of this.conns.values()) this.reset(conn);
  }

  private accept(socket: Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    // A server-side connection: rhea's typings only describe client options and leave out accept().
    const create = this.container.create_connection.bind(this.container) as unknown as (o: object) => { accept(s: Socket): Connection };
    const connection = create({ container_id: 'eventhubs-emulator' }).accept(socket);
    const state: ConnState = { id: ++this.nextConnId, connection, socket, claims: [], replyLinks: new Map(), pendingReplies: new Map(), closed: false };
    this.conns.set(connection, state);
    this.counters.connectionsOpened++;
    socket.on('close', () => {
      this.forget(state);
      this.conns.delete(connection);
    });
  }

  private wire(): void {
    const c = this.container;
    // Without listeners rhea re-emits link, session and connection errors as 'error' on the container (which would throw).
    c.on('error', () => undefined);
    c.on('connection_error', () => undefined);
    c.on('session_error', () => undefined);
    c.on('sender_error', () => undefined);
    c.on('receiver_error', () => undefined);
    c.on('protocol_error', () => undefined);
    c.on('connection_open', (ctx: EventContext) => {
      const conn = this.conns.get(ctx.connection);
      const ms = this.options.faults.disconnectMs;
      if (conn && ms !== undefined && ms > 0) {
        conn.timer = setTimeout(() => this.disconnect(conn, `The connection was closed after ${ms} ms (fault disconnect-ms).`), ms);
      }
    });
    c.on('connection_close', (ctx: EventContext) => {
      const conn = this.conns.get(ctx.connection);
      if (conn) this.forget(conn);
    });
    c.on('disconnected', (ctx: EventContext) => {
      const conn = this.conns.get(ctx.connection);
      if (conn) this.forget(conn);
    });
    c.on('session_close', (ctx: EventContext) => {
      for (const sub of [...this.subscriptions]) if (sub.session === ctx.session) this.drop(sub);
    });
    c.on('sender_open', (ctx: EventContext) => this.onSenderOpen(ctx));
    c.on('receiver_open', (ctx: EventContext) => this.onReceiverOpen(ctx));
    c.on('sender_close', (ctx: EventContext) => {
      for (const sub of [...this.subscriptions]) if (sub.link === ctx.sender) this.drop(sub);
    });
    c.on('sendable', (ctx: EventContext) => {
      const sender = ctx.sender;
      if (!sender) return;
      const conn = this.conns.get(ctx.connection);
      if (conn?.pendingReplies.has(sender)) this.flushReplies(conn, sender);
      for (const sub of this.subscriptions) if (sub.link === sender) this.pump(sub);
    });
    c.on('message', (ctx: EventContext) => this.onMessage(ctx));
  }

  private forget(conn: ConnState): void {
    if (conn.closed) return;
    conn.closed = true;
    if (conn.timer) clearTimeout(conn.timer);
    for (const sub of [...this.subscriptions]) if (sub.conn === conn) this.drop(sub);
  }

  // ---- links ----------------------------------------------------------------------------------

  /** The peer attached a receiving link: we are its sender (a partition receiver, or a reply link). */
  private onSenderOpen(ctx: EventContext): void {
    const link = ctx.sender!;
    const conn = this.conns.get(ctx.connection);
    if (!conn) return;
    const address = addressOf(link.source) ?? '';
    link.set_source({ address });
    const targetAddress = addressOf(link.target);
    if (targetAddress !== undefined) link.set_target({ address: targetAddress });
    if (address === '$cbs' || /^(?:[^/]+\/)?\$management$/i.test(address)) {
      conn.replyLinks.set(link.name, link);
      return;
    }
    const m = /^([^/]+)\/ConsumerGroups\/([^/]+)\/Partitions\/([^/]+)$/i.exec(address);
    if (!m) return this.refuse(link, CONDITION.notFound, `The messaging entity '${address}' could not be found.`);
    const [, hubName, cgName, partitionId] = m as unknown as [string, string, string, string];
    if (hubName.toLowerCase() !== this.options.hub.name.toLowerCase()) {
      return this.refuse(link, CONDITION.notFound, `The messaging entity '${hubName}' could not be found.`);
    }
    const consumerGroup = this.options.consumerGroups.find((g) => g.toLowerCase() === cgName.toLowerCase());
    if (!consumerGroup) return this.refuse(link, CONDITION.notFound, `The messaging entity '${hubName}/ConsumerGroups/${cgName}' could not be found.`);
    const partition = this.options.hub.partition(partitionId);
    if (!partition) {
      return this.refuse(link, 'com.microsoft:argument-out-of-range', `The specified partition '${partitionId}' is invalid for EventHub '${hubName}'.`);
    }
    if (!this.authorized(conn, address)) {
      return this.refuse(link, CONDITION.unauthorized, `Unauthorized access. 'Listen' claim(s) are required to perform this operation. Resource: '${address}'.`);
    }
    let cursor: number;
    try {
      cursor = startIndex(partition, selectorOf(link.source?.filter));
    } catch (err) {
      if (err instanceof PositionError) return this.refuse(link, err.condition, err.message);
      throw err;
    }
    const epoch = (link.properties ?? {})[EPOCH] as unknown;
    const ownerLevel = typeof epoch === 'number' ? epoch : typeof epoch === 'bigint' ? Number(epoch) : undefined;
    const peers = [...this.subscriptions].filter((s) => s.partition === partition && s.consumerGroup === consumerGroup);
    if (ownerLevel === undefined) {
      const owner = peers.find((s) => s.ownerLevel !== undefined);
      if (owner) {
        return this.refuse(
          link,
          CONDITION.stolen,
          `Receiver '${link.name}' with no epoch cannot be created: a receiver with epoch '${owner.ownerLevel}' already exists on partition '${partition.id}' of consumer group '${consumerGroup}'.`,
        );
      }
      if (peers.length >= MAX_RECEIVERS) {
        return this.refuse(link, CONDITION.limit, `Exceeded the maximum number of allowed receivers per partition in a consumer group which is ${MAX_RECEIVERS}.`);
      }
    } else {
      const higher = peers.find((s) => s.ownerLevel !== undefined && s.ownerLevel > ownerLevel);
      if (higher) {
        return this.refuse(
          link,
          CONDITION.stolen,
          `Receiver '${link.name}' with epoch '${ownerLevel}' cannot be created: a receiver with the higher epoch '${higher.ownerLevel}' already exists.`,
        );
      }
      // A receiver with an owner level as high or higher takes the partition from everyone else.
      for (const peer of peers) {
        this.counters.receiversStolen++;
        this.detach(
          peer,
          CONDITION.stolen,
          `New receiver '${link.name}' with higher epoch of '${ownerLevel}' is created hence current receiver '${peer.name}' with epoch '${peer.ownerLevel ?? 'null'}' is getting disconnected.`,
        );
      }
    }
    (link as unknown as RheaLinkInternals).local.attach.snd_settle_mode = 1;
    const sub: Subscription = {
      conn,
      link,
      session: ctx.session!,
      partition,
      consumerGroup,
      ...(ownerLevel !== undefined ? { ownerLevel } : {}),
      name: link.name,
      cursor,
      sent: 0,
      notBefore: 0,
      trackLastEnqueued: capabilities(link.desired_capabilities).includes(RUNTIME_METRIC),
      closed: false,
    };
    this.subscriptions.add(sub);
    this.counters.receiversOpened++;
    const ms = this.options.faults.detachMs;
    if (ms !== undefined && ms > 0) {
      sub.lifeTimer = setTimeout(() => this.detach(sub, CONDITION.detachForced, `The link was detached after ${ms} ms (fault detach-ms).`), ms);
    }
    this.pump(sub);
  }

  /** The peer attached a sending link: $cbs and $management requests, or a producer. */
  private onReceiverOpen(ctx: EventContext): void {
    const link = ctx.receiver!;
    const conn = this.conns.get(ctx.connection);
    if (!conn) return;
    const address = addressOf(link.target) ?? '';
    link.set_target({ address });
    const sourceAddress = addressOf(link.source);
    if (sourceAddress !== undefined) link.set_source({ address: sourceAddress });
    (link as unknown as RheaLinkInternals).local.attach.max_message_size = MAX_MESSAGE_SIZE;
    if (address === '$cbs' || /^(?:[^/]+\/)?\$management$/i.test(address)) return;
    const m = /^([^/]+)(?:\/Partitions\/([^/]+))?$/i.exec(address);
    if (!m || m[1]!.toLowerCase() !== this.options.hub.name.toLowerCase()) {
      return this.refuse(link, CONDITION.notFound, `The messaging entity '${address}' could not be found.`);
    }
    if (m[2] !== undefined && !this.options.hub.partition(m[2])) {
      return this.refuse(link, 'com.microsoft:argument-out-of-range', `The specified partition '${m[2]}' is invalid.`);
    }
    if (!this.authorized(conn, address)) {
      return this.refuse(link, CONDITION.unauthorized, `Unauthorized access. 'Send' claim(s) are required to perform this operation. Resource: '${address}'.`);
    }
  }

  /** Completes the attach and detaches at once with an error, as the service refuses a link. */
  private refuse(link: Sender | Receiver, condition: string, description: string): void {
    if (link.is_sender()) this.counters.receiversRefused++;
    link.close({ condition, description });
  }

  private detach(sub: Subscription, condition: string, description: string): void {
    if (sub.closed) return;
    if (condition === CONDITION.detachForced) this.counters.detached++;
    this.drop(sub);
    try {
      sub.link.close({ condition, description });
    } catch {
      // already gone with its connection
    }
  }

  private drop(sub: Subscription): void {
    sub.closed = true;
    if (sub.slowTimer) clearTimeout(sub.slowTimer);
    if (sub.lifeTimer) clearTimeout(sub.lifeTimer);
    this.subscriptions.delete(sub);
  }

  private disconnect(conn: ConnState, description: string): void {
    if (conn.closed) return;
    this.counters.disconnected++;
    const connection = conn.connection;
    this.forget(conn);
    try {
      connection.close({ condition: CONDITION.connectionForced, description });
    } catch {
      // the socket is gone already
    }
  }

  private reset(conn: ConnState): void {
    if (conn.closed) return;
    this.counters.resets++;
    this.forget(conn);
    conn.socket.resetAndDestroy();
  }

  private authorized(conn: ConnState, entity: string): boolean {
    const now = this.options.now();
    return conn.claims.some((claim) => claim.expiresAtMs > now && scopeCovers(claim.scope, entity));
  }

  // ---- deliveries -----------------------------------------------------------------------------

  private credit(sub: Subscription): number {
    const internals = sub.link as unknown as RheaLinkInternals;
    // rhea lowers link.credit as it writes transfers, so sends it has queued but not written still count against it.
    return internals.credit - (sub.sent - internals.delivery_count);
  }

  private pump(sub: Subscription): void {
    const slowMs = this.options.faults.slowMs ?? 0;
    while (!sub.closed && !sub.slowTimer && sub.link.is_open() && sub.link.sendable() && this.credit(sub) > 0) {
      const event = sub.duplicate ?? sub.partition.events[sub.cursor];
      if (!event) return;
      const wait = sub.notBefore - Date.now();
      if (wait > 0) {
        sub.slowTimer = setTimeout(() => {
          sub.slowTimer = undefined;
          this.pump(sub);
        }, wait);
        return;
      }
      const isDuplicate = sub.duplicate !== undefined;
      if (isDuplicate) {
        sub.duplicate = undefined;
        this.counters.duplicates++;
      } else {
        sub.cursor++;
      }
      sub.link.send(this.toMessage(event, sub));
      sub.sent++;
      sub.notBefore = slowMs > 0 ? Date.now() + slowMs : 0;
      const n = ++this.counters.deliveries;
      const byPartition = this.counters.deliveredByPartition;
      byPartition[sub.partition.id] = (byPartition[sub.partition.id] ?? 0) + 1;
      const faults = this.options.faults;
      if (!isDuplicate && everyNth(faults.duplicateEvery, n)) sub.duplicate = event;
      if (everyNth(faults.detachEvery, n)) {
        this.detach(sub, CONDITION.detachForced, `The link was detached after delivery ${n} (fault detach-every).`);
        return;
      }
      if (everyNth(faults.disconnectEvery, n)) {
        this.disconnect(sub.conn, `The connection was closed after delivery ${n} (fault disconnect-every).`);
        return;
      }
      if (everyNth(faults.resetEvery, n)) {
        const conn = sub.conn;
        this.drop(sub);
        // After rhea has written the transfer, so the delivery may reach the peer before the drop.
        setImmediate(() => this.reset(conn));
        return;
      }
    }
  }

  private toMessage(event: StoredEvent, sub: Subscription): Message {
    const annotations: Record<string, unknown> = {
      'x-opt-sequence-number': rhea.types.wrap_long(event.sequenceNumber),
      'x-opt-offset': event.offset,
      'x-opt-enqueued-time': new Date(event.enqueuedTimeMs),
    };
    if (event.partitionKey !== undefined) annotations['x-opt-partition-key'] = event.partitionKey;
    const message: Record<string, unknown> = {
      ...(event.properties ?? {}),
      body: event.body.type === 'data' ? rhea.message.data_section(event.body.bytes) : event.body.value,
      message_annotations: annotations,
    };
    if (event.applicationProperties) message.application_properties = event.applicationProperties;
    if (sub.trackLastEnqueued) {
      const last = sub.partition.last;
      message.delivery_annotations = {
        last_enqueued_sequence_number: rhea.types.wrap_long(last?.sequenceNumber ?? -1),
        last_enqueued_offset: last?.offset ?? '-1',
        last_enqueued_time_utc: new Date(last?.enqueuedTimeMs ?? 0),
        runtime_info_retrieval_time_utc: new Date(this.options.now()),
      };
    }
    return message as unknown as Message;
  }

  // ---- requests and producers -----------------------------------------------------------------

  private onMessage(ctx: EventContext): void {
    const link = ctx.receiver;
    const conn = this.conns.get(ctx.connection);
    if (!link || !conn) return;
    const address = addressOf(link.target) ?? '';
    if (address === '$cbs') return this.onCbs(conn, ctx.message!);
    if (/^(?:[^/]+\/)?\$management$/i.test(address)) return this.onManagement(conn, ctx.message!);
    this.onProduced(address, ctx);
  }

  private onCbs(conn: ConnState, request: Message): void {
    const props = (request.application_properties ?? {}) as Record<string, unknown>;
    if (props.operation !== 'put-token') {
      return this.reply(conn, request, 400, `The operation ${JSON.stringify(props.operation)} is not supported on $cbs.`, undefined, CONDITION.notImplemented);
    }
    const audience = typeof props.name === 'string' ? props.name : '';
    if (props.type !== 'servicebus.windows.net:sastoken') {
      this.counters.tokensRefused++;
      return this.reply(conn, request, 401, `InvalidToken: token type ${JSON.stringify(props.type)} is not accepted by this emulator; use a shared access key.`);
    }
    const check = checkSasToken(request.body, this.options.keys, this.options.now());
    if (!check.ok) {
      this.counters.tokensRefused++;
      return this.reply(conn, request, 401, check.reason);
    }
    if (!scopeCovers(check.claim.resource, audience)) {
      this.counters.tokensRefused++;
      return this.reply(conn, request, 401, `InvalidAudience: the token is for '${check.claim.resource}', not '${audience}'.`);
    }
    this.counters.tokensAccepted++;
    conn.claims.push({ scope: audience, expiresAtMs: check.claim.expiresAtMs });
    this.reply(conn, request, 202, 'Accepted');
  }

  private onManagement(conn: ConnState, request: Message): void {
    this.counters.managementRequests++;
    const props = (request.application_properties ?? {}) as Record<string, unknown>;
    const hub = this.options.hub;
    const token = props.security_token;
    // A namespace key signs for any entity: a good signature for a hub that does not exist is a 404, not a 401.
    const check = token !== undefined && token !== null ? checkSasToken(token, this.options.keys, this.options.now()) : undefined;
    if (check && !check.ok) return this.reply(conn, request, 401, check.reason);
    if (typeof props.name !== 'string' || props.name.toLowerCase() !== hub.name.toLowerCase()) {
      return this.reply(conn, request, 404, `The messaging entity '${String(props.name)}' could not be found.`);
    }
    if (check?.ok) {
      if (!scopeCovers(check.claim.resource, hub.name)) return this.reply(conn, request, 401, `InvalidAudience: the token is for '${check.claim.resource}'.`);
    } else if (!this.authorized(conn, `${hub.name}/$management`)) {
      return this.reply(conn, request, 401, `Unauthorized access. 'Listen' claim(s) are required to perform this operation.`);
    }
    if (props.operation !== 'READ') return this.reply(conn, request, 400, `The operation ${JSON.stringify(props.operation)} is not supported.`, undefined, CONDITION.notImplemented);
    if (props.type === 'com.microsoft:eventhub') {
      return this.reply(conn, request, 200, 'OK', {
        name: hub.name,
        type: 'com.microsoft:eventhub',
        created_at: new Date(hub.createdAtMs),
        partition_count: rhea.types.wrap_int(hub.partitions.length),
        partition_ids: hub.partitions.map((p) => p.id),
      });
    }
    if (props.type === 'com.microsoft:partition') {
      const partition = hub.partition(String(props.partition));
      if (!partition) {
        return this.reply(conn, request, 400, `The specified partition '${String(props.partition)}' is invalid.`, undefined, 'com.microsoft:argument-out-of-range');
      }
      const last = partition.last;
      return this.reply(conn, request, 200, 'OK', {
        name: hub.name,
        type: 'com.microsoft:partition',
        partition: partition.id,
        begin_sequence_number: rhea.types.wrap_long(partition.events.length > 0 ? 0 : -1),
        last_enqueued_sequence_number: rhea.types.wrap_long(last?.sequenceNumber ?? -1),
        last_enqueued_offset: last?.offset ?? '-1',
        last_enqueued_time_utc: new Date(last?.enqueuedTimeMs ?? 0),
        is_partition_empty: partition.events.length === 0,
      });
    }
    this.reply(conn, request, 400, `The type ${JSON.stringify(props.type)} is not supported.`, undefined, CONDITION.notImplemented);
  }

  private reply(conn: ConnState, request: Message, status: number, description: string, body?: unknown, condition?: string): void {
    const replyTo = request.reply_to;
    const link = typeof replyTo === 'string' ? conn.replyLinks.get(replyTo) : undefined;
    if (!link) return;
    const props: Record<string, unknown> = { 'status-code': rhea.types.wrap_int(status), 'status-description': description };
    if (condition) props['error-condition'] = condition;
    const response = {
      correlation_id: request.message_id,
      to: replyTo,
      application_properties: props,
      body: body ?? null,
    } as unknown as Message;
    const queue = conn.pendingReplies.get(link) ?? [];
    queue.push(response);
    conn.pendingReplies.set(link, queue);
    this.flushReplies(conn, link);
  }

  private flushReplies(conn: ConnState, link: Sender): void {
    const queue = conn.pendingReplies.get(link);
    if (!queue) return;
    let budget = (link as unknown as RheaLinkInternals).credit;
    while (queue.length > 0 && budget > 0 && link.is_open()) {
      link.send(queue.shift()!);
      budget--;
    }
    if (queue.length === 0) conn.pendingReplies.delete(link);
  }

  private onProduced(address: string, ctx: EventContext): void {
    const m = /^[^/]+(?:\/Partitions\/([^/]+))?$/i.exec(address);
    if (!m) return;
    const partitionId = m[1];
    const raw = ctx.message as unknown;
    const format = (ctx as unknown as { format?: number }).format;
    let messages: Message[];
    let envelopeKey: string | undefined;
    if (format === BATCH_FORMAT && Buffer.isBuffer(raw)) {
      const envelope = rhea.message.decode(raw);
      envelopeKey = (envelope.message_annotations as Record<string, unknown> | undefined)?.['x-opt-partition-key'] as string | undefined;
      const body = envelope.body as unknown;
      const parts = isSection(body) ? (body.multiple ? (body.content as Buffer[]) : [body.content as Buffer]) : [];
      messages = parts.map((p) => rhea.message.decode(p) as unknown as Message);
    } else {
      messages = [raw as Message];
    }
    for (const msg of messages) {
      const key = (msg.message_annotations?.['x-opt-partition-key'] as string | undefined) ?? envelopeKey;
      const body: unknown = msg.body;
      const properties: Record<string, unknown> = {};
      for (const field of ['message_id', 'user_id', 'subject', 'content_type', 'content_encoding', 'correlation_id', 'creation_time', 'group_id'] as const) {
        if (msg[field] !== undefined) properties[field] = msg[field];
      }
      this.options.hub.appendSent(
        {
          body:
            isSection(body) && body.typecode === 0x75
              ? { type: 'data', bytes: Buffer.isBuffer(body.content) ? body.content : Buffer.concat(body.content as Buffer[]) }
              : { type: 'value', value: body },
          ...(key !== undefined ? { partitionKey: key } : {}),
          ...(msg.application_properties ? { applicationProperties: msg.application_properties as Record<string, unknown> } : {}),
          ...(Object.keys(properties).length > 0 ? { properties } : {}),
        },
        partitionId,
      );
    }
  }
}
